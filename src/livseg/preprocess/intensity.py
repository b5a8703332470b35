"""Intensity windowing of CT in Hounsfield units."""
from __future__ import annotations

import numpy as np

#: The abdominal window used for the liver (HU).
LIVER_WINDOW = (-100.0, 200.0)
#: The window of ../shared/data/lits_slices_256-style 8-bit slices: HU clipped to [0, 255].
LITS_8BIT_WINDOW = (0.0, 255.0)


def hu_window(hu: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """Clip Hounsfield units to ``[lower, upper]`` and scale linearly to float32 in [0, 1]."""
    if not upper > lower:
        raise ValueError(f"window upper bound {upper} must exceed lower bound {lower}")
    out = np.clip(np.asarray(hu, dtype=np.float32), lower, upper)
    out -= np.float32(lower)
    out *= np.float32(1.0 / (upper - lower))
    return out


#: At most this many slices of a liver are sampled for its median HU (a huge CT's liver
#: holds millions of voxels; the median of a few dozen of its slices is the same to 1 HU).
LIVER_MEDIAN_SLICES = 48


def liver_hu_offset(hu: np.ndarray, liver: np.ndarray, anchor_hu: float) -> float:
    """The HU to add to ``hu`` so that the median of its ``liver`` voxels lies at
    ``anchor_hu`` (0 where there is no liver): a tumour stage trained so sees every liver at
    the same brightness, whatever the contrast phase. Its inverse is subtracting it; a
    network applies it by shifting its window, never the image."""
    rows = np.flatnonzero(liver.reshape(len(liver), -1).any(axis=1))
    if not rows.size:
        return 0.0
    rows = rows[::-(-len(rows) // LIVER_MEDIAN_SLICES)]
    return float(anchor_hu - np.median(hu[rows][liver[rows]]))


def hu_from_window(scaled: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """Map [0, 1] values back to Hounsfield units inside the window (inverse of hu_window)."""
    return np.asarray(scaled, dtype=np.float32) * np.float32(upper - lower) + np.float32(lower)
