"""Synthetic liver tumours inserted into real livers, after Hu et al., "Label-Free Liver
Tumor Segmentation" (CVPR 2023), on 2D axial HU slices.

Each tumour: a centre inside the eroded liver away from bright vessels; an ellipse with
random axes and orientation (large ones are unions of several), its outline made irregular
by a smooth random displacement; a texture of smoothed noise; an intensity set relative to
the surrounding liver (mostly darker, sometimes brighter); blended into the liver through a
Gaussian-blurred mask. The label is the unblurred shape restricted to the liver.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class TumourRecipe:
    radius_mm: tuple[float, float] = (3.0, 35.0)  # drawn log-uniformly
    max_tumours: int = 3
    hyperdense_probability: float = 0.15
    contrast_hu: tuple[float, float] = (15.0, 80.0)  # |tumour - surrounding liver|
    texture_hu: tuple[float, float] = (2.0, 12.0)
    edge_blur_mm: tuple[float, float] = (0.5, 2.5)
    irregularity: float = 0.25  # amplitude of the outline's displacement, in radii
    erode_mm: float = 4.0  # centres keep this far from the liver's edge
    vessel_hu: float = 35.0  # smoothed voxels this far above the liver's median are vessels


def looks_healthy(hu: np.ndarray, liver: np.ndarray, pixel_mm: float,
                  max_dark_fraction: float = 0.02, darker_hu: float = 25.0) -> bool:
    """Whether a slice's liver shows no real lesion: under ``max_dark_fraction`` of its
    inner part is, after smoothing, ``darker_hu`` below the liver's median.

    Slices of liver-only data sets (tumours inside the liver label) would otherwise teach the
    tumour stage that real tumours are liver; Hu et al. start from healthy livers too.
    """
    inner = ndimage.binary_erosion(liver, iterations=max(1, round(4.5 / pixel_mm)))
    if inner.sum() < 50:
        return False
    smooth = ndimage.gaussian_filter(hu.astype(np.float32), 3.0 / pixel_mm)
    dark = (smooth < np.median(hu[inner]) - darker_hu) & inner
    return dark.sum() < max_dark_fraction * inner.sum()


def insert_tumours(hu: np.ndarray, liver: np.ndarray, pixel_mm: float,
                   rng: np.random.Generator,
                   recipe: TumourRecipe = TumourRecipe()) -> tuple[np.ndarray, np.ndarray]:
    """(HU slice with 1..max_tumours synthetic tumours, their bool mask) for one (H, W) slice.

    ``liver`` is the slice's bool liver mask; ``pixel_mm`` its in-plane pixel size. A slice
    whose liver is too small to hold a tumour comes back unchanged with an empty mask.
    """
    out = hu.astype(np.float32, copy=True)
    tumour = np.zeros(hu.shape, bool)
    erosion = max(1, round(recipe.erode_mm / pixel_mm))
    inner = ndimage.binary_erosion(liver, iterations=erosion)
    if not inner.any():
        return out, tumour
    liver_median = float(np.median(out[liver]))
    vessels = ndimage.gaussian_filter(out, 1.0) > liver_median + recipe.vessel_hu
    candidates = inner & ~vessels
    if not candidates.any():
        candidates = inner
    for _ in range(int(rng.integers(1, recipe.max_tumours + 1))):
        shape = _tumour_shape(candidates, liver, pixel_mm, rng, recipe)
        if shape.any():
            out = _paint(out, shape, liver, liver_median, pixel_mm, rng, recipe)
            tumour |= shape
    return out, tumour


def _tumour_shape(candidates: np.ndarray, liver: np.ndarray, pixel_mm: float,
                  rng: np.random.Generator, recipe: TumourRecipe) -> np.ndarray:
    ys, xs = np.nonzero(candidates)
    pick = int(rng.integers(len(ys)))
    centre = np.array([ys[pick], xs[pick]], float)
    low, high = np.log(recipe.radius_mm[0]), np.log(recipe.radius_mm[1])
    radius = float(np.exp(rng.uniform(low, high))) / pixel_mm  # pixels
    lobes = 1 if radius * pixel_mm < 15 else int(rng.integers(2, 4))
    grid = np.indices(liver.shape, dtype=np.float32)
    distance = np.full(liver.shape, np.inf, np.float32)
    for lobe in range(lobes):
        offset = rng.normal(0, 0.35 * radius, 2) if lobe else np.zeros(2)
        axes = radius * rng.uniform(0.6, 1.0, 2) * (0.8 if lobe else 1.0)
        angle = rng.uniform(0, np.pi)
        dy, dx = grid[0] - centre[0] - offset[0], grid[1] - centre[1] - offset[1]
        u = dy * np.cos(angle) + dx * np.sin(angle)
        v = -dy * np.sin(angle) + dx * np.cos(angle)
        distance = np.minimum(distance, np.sqrt((u / axes[0]) ** 2 + (v / axes[1]) ** 2))
    smooth = max(1.0, 0.3 * radius)
    wobble = ndimage.gaussian_filter(rng.standard_normal(liver.shape).astype(np.float32),
                                     smooth)
    wobble *= recipe.irregularity / (wobble.std() + 1e-6)
    return (distance + wobble < 1.0) & liver


def _paint(out: np.ndarray, shape: np.ndarray, liver: np.ndarray, liver_median: float,
           pixel_mm: float, rng: np.random.Generator, recipe: TumourRecipe) -> np.ndarray:
    ring = ndimage.binary_dilation(shape, iterations=max(2, round(5 / pixel_mm))) & liver
    ring &= ~shape
    surrounding = float(np.median(out[ring])) if ring.any() else liver_median
    contrast = rng.uniform(*recipe.contrast_hu)
    sign = 1.0 if rng.random() < recipe.hyperdense_probability else -1.0
    texture = ndimage.gaussian_filter(rng.uniform(-1, 1, out.shape).astype(np.float32),
                                      rng.uniform(0.7, 2.5))
    texture *= rng.uniform(*recipe.texture_hu) / (texture.std() + 1e-6)
    inside = surrounding + sign * contrast + texture
    blur = rng.uniform(*recipe.edge_blur_mm) / pixel_mm
    weight = ndimage.gaussian_filter(shape.astype(np.float32), blur) * liver
    return out * (1 - weight) + inside * weight
