"""Bounding boxes with a margin in millimetres; crop and its inverse, uncrop."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BoundingBox:
    """A half-open box of array indices: ``start[i] <= index[i] < stop[i]`` on each axis."""

    start: tuple[int, ...]
    stop: tuple[int, ...]

    @property
    def slices(self) -> tuple[slice, ...]:
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop, strict=True))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in zip(self.start, self.stop, strict=True))


def mask_bbox(mask: np.ndarray, spacing_zyx: tuple[float, ...] | None = None,
              margin_mm: float | tuple[float, ...] = 0.0) -> BoundingBox | None:
    """The smallest box holding every nonzero voxel of ``mask``, grown by ``margin_mm``
    (one margin, or one per axis in array order).

    The margin is converted to voxels per axis with ``spacing_zyx`` (array order) and
    rounded up; the box is clipped to the array. Returns None for an empty mask.
    """
    margins = tuple(margin_mm) if isinstance(margin_mm, tuple) else (margin_mm,) * mask.ndim
    if len(margins) != mask.ndim or min(margins) < 0:
        raise ValueError("margin_mm must be one non-negative margin or one per axis")
    spacing = (1.0,) * mask.ndim if spacing_zyx is None else tuple(spacing_zyx)
    start, stop = [], []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.flatnonzero(np.any(mask, axis=other))
        if present.size == 0:
            return None
        grow = math.ceil(margins[axis] / spacing[axis] - 1e-9) if margins[axis] else 0
        start.append(max(0, int(present[0]) - grow))
        stop.append(min(mask.shape[axis], int(present[-1]) + 1 + grow))
    return BoundingBox(tuple(start), tuple(stop))


def crop(array: np.ndarray, bbox: BoundingBox) -> np.ndarray:
    """The part of ``array`` inside ``bbox`` (leading axes beyond the box are kept whole)."""
    lead = (slice(None),) * (array.ndim - len(bbox.start))
    return array[lead + bbox.slices].copy()


def uncrop(cropped: np.ndarray, bbox: BoundingBox, full_shape: tuple[int, ...],
           fill_value: float = 0) -> np.ndarray:
    """Put ``cropped`` back at ``bbox`` in an array of ``full_shape`` filled with ``fill_value``."""
    lead_shape = cropped.shape[: cropped.ndim - len(bbox.start)]
    if tuple(cropped.shape[len(lead_shape):]) != bbox.shape:
        raise ValueError(f"cropped shape {cropped.shape} does not match the box {bbox.shape}")
    out = np.full(tuple(lead_shape) + tuple(full_shape), fill_value, dtype=cropped.dtype)
    out[(slice(None),) * len(lead_shape) + bbox.slices] = cropped
    return out


def centre_pad(array: np.ndarray, size: tuple[int, int], fill: float = 0
               ) -> tuple[np.ndarray, BoundingBox]:
    """``array`` with its last two axes padded (with ``fill``) to at least ``size``, centred
    (the lower side gets the smaller half), and the box where ``array`` lies in it: its
    inverse is ``crop(padded, box)``. An axis already at least ``size`` long is kept whole."""
    have = array.shape[-2:]
    start = tuple(max(0, want - length) // 2 for length, want in zip(have, size, strict=True))
    shape = tuple(max(length, want) for length, want in zip(have, size, strict=True))
    box = BoundingBox(start, tuple(a + length for a, length in zip(start, have, strict=True)))
    if shape == tuple(have):
        return array, box
    return uncrop(array, box, shape, fill), box
