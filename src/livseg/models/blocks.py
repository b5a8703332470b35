"""Layers shared by the three networks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvNormAct(nn.Sequential):
    """Convolution, batch norm, optional ReLU6/ReLU (padding keeps the size at stride 1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, groups: int = 1, activation: type[nn.Module] | None = nn.ReLU):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                      groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
            *([activation(inplace=True)] if activation is not None else []),
        )


class DepthwiseSeparableConv(nn.Sequential):
    """A depthwise 3x3 per channel, then a pointwise 1x1 that sets the channel count."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(
            ConvNormAct(in_channels, in_channels, 3, stride, groups=in_channels,
                        activation=nn.ReLU6),
            ConvNormAct(in_channels, out_channels, 1, activation=nn.ReLU6),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2's block: pointwise expansion, depthwise 3x3, linear pointwise projection.

    The input is added to the output when the stride is 1 and the channel count is kept.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 expansion: float = 4.0):
        super().__init__()
        hidden = max(8, int(round(in_channels * expansion)))
        layers: list[nn.Module] = []
        if hidden != in_channels:
            layers.append(ConvNormAct(in_channels, hidden, 1, activation=nn.ReLU6))
        layers += [ConvNormAct(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
                   ConvNormAct(hidden, out_channels, 1, activation=None)]
        self.body = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.use_residual else out


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad (..., H, W) at the bottom and right, repeating the edge, to multiples of ``multiple``."""
    pad_h = -x.shape[-2] % multiple
    pad_w = -x.shape[-1] % multiple
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if (pad_h or pad_w) else x


class PaddedToMultiple(nn.Module):
    """Base for encoder-decoders: pads H and W up to a multiple, crops the logits back.

    Subclasses set ``self.size_multiple`` and implement ``forward_padded`` (which needs
    sizes that are multiples); ``forward`` takes any size, odd ones too, and gives logits
    of exactly the input's height and width.
    """

    size_multiple: int = 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> logits (N, num_classes, H, W)."""
        height, width = x.shape[-2], x.shape[-1]
        return self.forward_padded(pad_to_multiple(x, self.size_multiple))[..., :height, :width]

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class PaddedCore(nn.Module):
    """The network without its padding, for export: H and W must be multiples of
    ``size_multiple`` (the runtime pads, see :func:`pad_to_multiple`)."""

    def __init__(self, model: PaddedToMultiple):
        super().__init__()
        self.model = model
        self.size_multiple = model.size_multiple
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_padded(x)
