"""The training set as one compact block of 2D slices, and its split by volume.

Every source (slice folders, LiTS or MSD volumes, phantoms) becomes a :class:`SliceSet`:
windowed images scaled to [0, 1] (float16), label maps (uint8, LiTS 0/1/2), and for each
slice the id of the volume it came from and its position there. ``livseg prepare`` saves
it as one .npz so that epochs never decode NIfTI or JPEG again.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livseg.errors import LivsegInputError
from livseg.preprocess.context import ContextIndex, context_index


@dataclass
class SliceSet:
    images: np.ndarray  # (N, H, W) float16 in [0, 1]: HU through ``window``
    labels: np.ndarray  # (N, H, W) uint8: 0 background, 1 liver, 2 tumour
    volume_ids: np.ndarray  # (N,) str: the patient/volume each slice comes from
    slice_numbers: np.ndarray  # (N,) int: position of the slice in its volume
    window: tuple[float, float]  # HU mapped to 0 and 1
    sources: list[str] = field(default_factory=list)
    has_tumour_labels: bool = True
    slice_mm: np.ndarray | None = None  # (N,) float: position along its volume in mm; NaN
    # (the default) for a slice whose neighbours are unknown (slice folders, synthetic)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.slice_mm is None:
            self.slice_mm = np.full(n, np.nan)
        self.slice_mm = np.asarray(self.slice_mm, np.float64)
        if len(self.slice_mm) != n:
            raise ValueError("slice positions and images differ in length")
        if not (len(self.labels) == len(self.volume_ids) == len(self.slice_numbers) == n):
            raise ValueError("images, labels, volume ids and slice numbers differ in length")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, keep: np.ndarray) -> SliceSet:
        return SliceSet(self.images[keep], self.labels[keep], self.volume_ids[keep],
                        self.slice_numbers[keep], self.window, list(self.sources),
                        self.has_tumour_labels, self.slice_mm[keep])

    def context(self, k: int, step_mm: float | None = None) -> ContextIndex:
        """Each slice's k inputs (2.5D) among the slices of its own volume: ``step_mm``
        apart along the volume (interpolated between the slices present), or the adjacent
        slice numbers when ``step_mm`` is None. See :mod:`livseg.preprocess.context`."""
        if step_mm is None:
            return context_index(self.slice_numbers.astype(np.float64), k, 1.0,
                                 self.volume_ids.astype(str))
        return context_index(self.slice_mm, k, step_mm, self.volume_ids.astype(str))

    def save(self, path: Path) -> Path:
        from livseg.io.text import atomic_output

        meta = {"window": list(self.window), "sources": self.sources,
                "has_tumour_labels": self.has_tumour_labels}
        with atomic_output(path) as partial, open(partial, "wb") as stream:
            np.savez(stream, images=self.images, labels=self.labels,  # file: no suffix added
                     volume_ids=self.volume_ids.astype(str),
                     slice_numbers=self.slice_numbers, slice_mm=self.slice_mm,
                     meta=np.array(json.dumps(meta)))
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> SliceSet:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return cls(data["images"], data["labels"], data["volume_ids"],
                           data["slice_numbers"], tuple(meta["window"]), meta["sources"],
                           meta["has_tumour_labels"],
                           data["slice_mm"] if "slice_mm" in data.files else None)
        except (OSError, KeyError, ValueError) as error:
            raise LivsegInputError(f"is not a livseg slice cache ({error})", path) from None


def concatenate(sets: list[SliceSet]) -> SliceSet:
    windows = {tuple(s.window) for s in sets}
    if len(windows) != 1:
        raise LivsegInputError(f"the data sources use different HU windows {sorted(windows)}")
    return SliceSet(np.concatenate([s.images for s in sets]),
                    np.concatenate([s.labels for s in sets]),
                    np.concatenate([s.volume_ids.astype(str) for s in sets]),
                    np.concatenate([s.slice_numbers for s in sets]), sets[0].window,
                    [src for s in sets for src in s.sources],
                    all(s.has_tumour_labels for s in sets),
                    np.concatenate([s.slice_mm for s in sets]))


def split_by_volume(volume_ids: np.ndarray, validation_fraction: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (train, validation) masks over slices; no volume is on both sides. A
    ``validation_fraction`` of 0 holds nothing out (a recipe's final model)."""
    if validation_fraction == 0:
        return np.ones(len(volume_ids), bool), np.zeros(len(volume_ids), bool)
    unique = np.unique(volume_ids.astype(str))
    if len(unique) < 2:
        raise LivsegInputError(f"only {len(unique)} volume(s) in the data; a split by volume "
                               "needs at least 2")
    order = np.random.default_rng(seed).permutation(len(unique))
    n_validation = min(len(unique) - 1, max(1, math.ceil(validation_fraction * len(unique))))
    validation_ids = set(unique[order[:n_validation]].tolist())
    validation = np.array([v in validation_ids for v in volume_ids.astype(str)])
    return ~validation, validation
