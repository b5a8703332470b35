"""Mobile U-Net: a U-Net built from depthwise-separable, inverted-residual blocks.

Every convolution is depthwise-separable (a depthwise 3x3, then a pointwise 1x1), the
encoder stages are MobileNetV2 inverted-residual blocks with residual connections, the
decoder up-samples, concatenates the encoder's features and fuses them with another
depthwise-separable block, and a 1x1 convolution gives the class logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from livseg.models.blocks import DepthwiseSeparableConv, InvertedResidual, PaddedToMultiple

BASE_CHANNELS = (16, 24, 32, 64, 96, 160)


def _scaled(channels: int, width: float) -> int:
    return max(8, int(round(channels * width / 8)) * 8)


class EncoderStage(nn.Sequential):
    """Down-sample by 2 with a strided inverted residual, then ``blocks - 1`` residual ones."""

    def __init__(self, in_channels: int, out_channels: int, blocks: int, expansion: float):
        layers = [InvertedResidual(in_channels, out_channels, 2, expansion)]
        layers += [InvertedResidual(out_channels, out_channels, 1, expansion)
                   for _ in range(blocks - 1)]
        super().__init__(*layers)


class DecoderStage(nn.Module):
    """Up-sample by 2, concatenate the skip features, fuse with separable convolutions."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int,
                 expansion: float):
        super().__init__()
        self.fuse = DepthwiseSeparableConv(in_channels + skip_channels, out_channels)
        self.refine = InvertedResidual(out_channels, out_channels, 1, expansion)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.refine(self.fuse(torch.cat([x, skip], dim=1)))


class UpsamplingHead(nn.Module):
    """A 1x1 classifier on the half-resolution features, its logits up-sampled bilinearly.

    The network works at half resolution from its strided stem on (full-resolution layers
    are where most of a light network's time goes); like DeepLab's, the logits are
    interpolated to the input size.
    """

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.classify = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.classify(features), scale_factor=2.0, mode="bilinear",
                             align_corners=False)


class FullResolutionHead(nn.Module):
    """The half-resolution features up-sampled to the input's size, joined with the input
    itself and classified there: one depthwise-separable layer at full resolution, so that
    a small lesion's edge is drawn at the input's pixels, not interpolated from logits at
    twice their size (for the tumour stage, whose misses are small lesions drawn too small).
    """

    def __init__(self, in_channels: int, image_channels: int, num_classes: int):
        super().__init__()
        self.fuse = DepthwiseSeparableConv(in_channels + image_channels, in_channels)
        self.classify = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, features: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(features, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.classify(self.fuse(torch.cat([x, image], dim=1)))


class MobileUNet(PaddedToMultiple):
    """(N, in_channels, H, W) -> (N, num_classes, H, W) logits.

    ``width`` scales every channel count; ``depth`` is the number of down-samplings after
    the strided stem (2-5); ``blocks`` the inverted-residual blocks per encoder stage;
    ``expansion`` their ratio, ``decoder_expansion`` that of the decoder's blocks.
    ``full_resolution_head``: classify at the input's resolution (:class:`FullResolutionHead`)
    instead of up-sampling half-resolution logits.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: float = 1.25,
                 depth: int = 4, blocks: int = 2, expansion: float = 6.0,
                 decoder_expansion: float = 2.0, full_resolution_head: bool = False):
        super().__init__()
        if not 2 <= depth <= 5:
            raise ValueError(f"depth must be 2..5, got {depth}")
        channels = [_scaled(c, width) for c in BASE_CHANNELS[: depth + 1]]
        self.size_multiple = 2 ** (depth + 1)
        self.stem = DepthwiseSeparableConv(in_channels, channels[0], stride=2)
        self.encoder = nn.ModuleList(
            EncoderStage(channels[i], channels[i + 1], blocks, expansion) for i in range(depth))
        self.decoder = nn.ModuleList(
            DecoderStage(channels[i + 1], channels[i], channels[i], decoder_expansion)
            for i in reversed(range(depth)))
        self.head = (FullResolutionHead(channels[0], in_channels, num_classes)
                     if full_resolution_head else UpsamplingHead(channels[0], num_classes))

    def forward_padded(self, image: torch.Tensor) -> torch.Tensor:
        features = [self.stem(image)]
        for stage in self.encoder:
            features.append(stage(features[-1]))
        x = features.pop()
        for stage in self.decoder:
            x = stage(x, features.pop())
        if isinstance(self.head, FullResolutionHead):
            return self.head(x, image)
        return self.head(x)
