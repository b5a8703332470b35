"""One trained stage as a slice-wise predictor: HU window, batching, 2.5D stacks, flip TTA.

Spatial preparation (resizing to the network's size or pixel spacing, cropping) belongs to
the cascade, which also undoes it; a :class:`Stage` only maps prepared HU slices to the
probability of its foreground class on the same grid.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from livseg.preprocess import hu_window

#: Flip test-time augmentation: none, left-right, up-down (dims of an (N, C, H, W) batch).
TTA_FLIPS = ((), (-1,), (-2,))


@dataclass
class Stage:
    model: nn.Module
    description: dict
    file: str
    sha256: str

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Stage:
        from livseg.train.checkpoint import file_sha256, load_model

        model, description = load_model(Path(path))
        model = model.to(device=device, memory_format=torch.channels_last)
        return cls(model, description, Path(path).name, file_sha256(Path(path)))

    @property
    def name(self) -> str:
        return self.description["stage"]

    @property
    def window(self) -> tuple[float, float]:
        return tuple(self.description["input"]["window_hu"])  # type: ignore[return-value]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.description["input"]["size"])  # type: ignore[return-value]

    @property
    def pixel_mm(self) -> float | None:
        return self.description["input"].get("pixel_mm")

    @property
    def in_channels(self) -> int:
        return int(self.description["input"]["in_channels"])

    def info(self) -> dict:
        """What the report says about this model."""
        return {"stage": self.name, "file": self.file, "sha256": self.sha256,
                "architecture": self.description["architecture"],
                "livseg_version": self.description["livseg_version"],
                "validation_dice": self.description["validation"].get("dice")}

    @torch.no_grad()
    def probability(self, slices_hu: np.ndarray, *, batch_size: int = 16, tta: bool = False,
                    progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(Z, H, W) HU slices -> (Z, H, W) float32 probability of the stage's foreground."""
        device = next(self.model.parameters()).device
        images = hu_window(slices_hu, *self.window)
        half = self.in_channels // 2
        out = np.empty(slices_hu.shape, np.float32)
        for start in range(0, len(images), batch_size):
            rows = np.arange(start, min(start + batch_size, len(images)))
            stack = np.clip(rows[:, None] + np.arange(-half, half + 1), 0, len(images) - 1)
            batch = torch.from_numpy(np.ascontiguousarray(images[stack], np.float32)).to(device)
            out[rows] = self._forward(batch, tta).cpu().numpy()
            if progress:
                progress(len(rows))
        return out

    def _forward(self, batch: torch.Tensor, tta: bool) -> torch.Tensor:
        flips = TTA_FLIPS if tta else ((),)
        total = 0
        for dims in flips:
            x = batch.flip(dims) if dims else batch
            p = self.model(x.contiguous(memory_format=torch.channels_last)).softmax(1)[:, 1]
            total = total + (p.flip(dims) if dims else p)  # negative dims: same H, W axes
        return total / len(flips)
