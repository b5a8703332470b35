"""The original U-Net (Ronneberger et al., 2015), with padded 3x3 convolutions.

23 convolution layers: 2 per level on the way down (64 to 1024 channels, 10 in all), 4
up-convolutions (2x2 transposed), 2 per level on the way up (8), and the 1x1 head.
"""
from __future__ import annotations

import torch
from torch import nn

from livseg.models.blocks import ConvNormAct, PaddedToMultiple


class DoubleConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(ConvNormAct(in_channels, out_channels),
                         ConvNormAct(out_channels, out_channels))


class UNet(PaddedToMultiple):
    """(N, in_channels, H, W) -> (N, num_classes, H, W) logits; ``base`` channels at the top."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base: int = 64,
                 depth: int = 4):
        super().__init__()
        channels = [base * 2**i for i in range(depth + 1)]
        self.size_multiple = 2**depth
        self.down = nn.ModuleList([DoubleConv(in_channels, channels[0])] + [
            DoubleConv(channels[i], channels[i + 1]) for i in range(depth)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(nn.ConvTranspose2d(channels[i + 1], channels[i], 2, stride=2)
                                for i in reversed(range(depth)))
        self.fuse = nn.ModuleList(DoubleConv(2 * channels[i], channels[i])
                                  for i in reversed(range(depth)))
        self.head = nn.Conv2d(channels[0], num_classes, kernel_size=1)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for index, block in enumerate(self.down):
            x = block(x if index == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, fuse in zip(self.up, self.fuse, strict=True):
            x = fuse(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)
