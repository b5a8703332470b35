"""ResUNet (Zhang, Liu and Wang, 2018): a U-Net of pre-activated residual units.

Encoding path (3 residual units, 64-128-256 channels, down-sampling by stride-2
convolutions), a bridge (512), a decoding path (3 residual units after up-sampling and
concatenation), and a 1x1 head.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from livseg.models.blocks import PaddedToMultiple


class ResidualUnit(nn.Module):
    """BN-ReLU-conv3x3, BN-ReLU-conv3x3, plus a 1x1 projection shortcut.

    The first unit of the network starts with a plain convolution (no pre-activation on
    the raw image), as in the paper.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 first: bool = False):
        super().__init__()
        pre = [] if first else [nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(
            *pre,
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False))
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class ResUNet(PaddedToMultiple):
    """(N, in_channels, H, W) -> (N, num_classes, H, W) logits."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base: int = 64,
                 depth: int = 3):
        super().__init__()
        channels = [base * 2**i for i in range(depth + 1)]
        self.size_multiple = 2**depth
        self.encoder = nn.ModuleList([ResidualUnit(in_channels, channels[0], first=True)] + [
            ResidualUnit(channels[i], channels[i + 1], stride=2) for i in range(depth - 1)])
        self.bridge = ResidualUnit(channels[depth - 1], channels[depth], stride=2)
        self.decoder = nn.ModuleList(
            ResidualUnit(channels[i + 1] + channels[i], channels[i])
            for i in reversed(range(depth)))
        self.head = nn.Sequential(nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels[0], num_classes, kernel_size=1))

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for unit in self.encoder:
            x = unit(x)
            skips.append(x)
        x = self.bridge(x)
        for unit in self.decoder:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = unit(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)
