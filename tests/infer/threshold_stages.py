"""Stages whose "network" is a fixed HU threshold, so that the cascade's answer is known.

A test volume holds a bright block ("liver", 200 HU) with a darker block inside ("tumour",
60 HU) on a -100 HU background. The liver stage marks every voxel above 25 HU; the tumour
stage marks 25-100 HU. Any error of orientation, cropping or resizing shows at once.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from livseg.infer import Stage
from livseg.infer.runners import TorchRunner
from livseg.io import Volume

LIVER_HU, TUMOUR_HU, BACKGROUND_HU = 200.0, 60.0, -100.0


class Threshold(nn.Module):
    """Logits (N, 2, H, W) positive where low < HU < high, for inputs windowed on [0, 255]."""

    def __init__(self, low_hu: float, high_hu: float, channel: int | None = None):
        super().__init__()
        self.sharpness = nn.Parameter(torch.tensor(50.0))
        self.low, self.high = low_hu / 255.0, high_hu / 255.0
        self.channel = channel  # the input slice it looks at (None: the middle one)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, x.shape[1] // 2 if self.channel is None else self.channel]
        score = self.sharpness * torch.minimum(x - self.low, self.high - x)
        return torch.stack([torch.zeros_like(score), score], dim=1)


def threshold_stage(stage: str, pixel_mm: float | None = None, in_channels: int = 1,
                    context_mm: float | None = None, channel: int | None = None,
                    liver_anchor_hu: float | None = None) -> Stage:
    """A threshold "network"; 2.5D with ``in_channels`` slices ``context_mm`` apart, looking
    at input slice ``channel`` only (None: the middle one); with ``liver_anchor_hu``, it
    expects the liver's median HU there."""
    low, high = (25.0, 1e4) if stage == "liver" else (25.0, 100.0)
    description = {"stage": stage, "livseg_version": "test", "architecture": {"name": "threshold"},
                   "input": {"window_hu": [0.0, 255.0], "size": [64, 64],
                             "in_channels": in_channels, "pixel_mm": pixel_mm,
                             "context_mm": context_mm,
                             **({} if liver_anchor_hu is None
                                else {"liver_anchor_hu": liver_anchor_hu})},
                   "validation": {"dice": None},
                   # trained as the shipped stages were: the liver stage without flips
                   # (so test-time augmentation leaves it alone), the tumour stage with them
                   "training": {"recipe": {"flip_probability": 0.0 if stage == "liver"
                                           else 0.5}}}
    return Stage(TorchRunner(Threshold(low, high, channel)), description,
                 f"{stage}-threshold", "0" * 64)


def block_volume(direction=(0, 0, -1, -1, 0, 0, 0, 1, 0), shape=(23, 41, 37),
                 spacing=(0.8, 1.1, 2.5)) -> tuple[Volume, np.ndarray]:
    """(CT volume, expected 0/1/2 labels) with the blocks off-centre on an oblique grid."""
    expected = np.zeros(shape, np.uint8)
    expected[4:19, 6:33, 9:30] = 1
    expected[8:14, 12:21, 13:20] = 2
    hu = np.select([expected == 2, expected == 1], [TUMOUR_HU, LIVER_HU], BACKGROUND_HU)
    volume = Volume(hu.astype(np.int16), spacing=spacing, origin=(10.0, -20.0, 30.0),
                    direction=tuple(float(d) for d in direction))
    return volume, expected
