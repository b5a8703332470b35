"""How often each training slice is drawn: slices holding the foreground over-sampled, and
(tumour stage) those holding a small tumour piece more again, since small lesions are
the ones the stage misses (issue 30: 53 of the 66 reference lesions it never touched,
pooled out of fold, are under 1 ml)."""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def has_small_piece(target: np.ndarray, pixel_mm: float, diameter_mm: float) -> np.ndarray:
    """(N,) bool: whether each (N, H, W) foreground slice holds an 8-connected piece whose
    area is that of a disc under ``diameter_mm`` across (pixels ``pixel_mm`` wide)."""
    largest_small = math.pi * (diameter_mm / 2) ** 2 / pixel_mm ** 2
    out = np.zeros(len(target), bool)
    for row in np.flatnonzero(target.reshape(len(target), -1).any(axis=1)):
        labels, count = ndimage.label(target[row], structure=np.ones((3, 3), bool))
        sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        out[row] = bool((sizes < largest_small).any())
    return out


def slice_weights(target: np.ndarray, oversample: float, small_oversample: float = 1.0,
                  pixel_mm: float | None = None, small_mm: float = 10.0) -> np.ndarray:
    """(N,) sampling weights of (N, H, W) foreground masks: 1 without foreground,
    ``oversample`` with it, and times ``small_oversample`` with a piece under ``small_mm``
    across (``pixel_mm``: the slices' pixel size; 1 mm when None)."""
    has_foreground = target.reshape(len(target), -1).any(axis=1)
    weights = np.where(has_foreground, oversample, 1.0)
    if small_oversample != 1.0:
        small = has_small_piece(target, pixel_mm or 1.0, small_mm)
        weights = np.where(small, weights * small_oversample, weights)
    return weights
