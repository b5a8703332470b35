"""Synthetic liver tumours inserted into real livers, after Hu et al., "Label-Free Liver
Tumor Segmentation" (CVPR 2023), on 2D axial HU slices or whole 3D volumes.

Each tumour: a centre inside the eroded liver away from bright vessels (and, in a volume
with labelled tumours, away from them); an ellipse (an ellipsoid in a volume) with random
axes and in-plane orientation, large ones a union of several, its outline made irregular by
a smooth random displacement; a texture of smoothed noise; an intensity set relative to the
surrounding liver (mostly darker, sometimes brighter), some large ones with a fainter rim
around a darker core; blended into the liver through a Gaussian-blurred mask. The label is
the unblurred shape restricted to the liver (the blur never reaches past a third of a
small tumour's radius, so that what is labelled can be seen). One implementation serves
both: every length is in millimetres and turned into voxels with the array's own spacing,
and each tumour is drawn in a window around its centre.
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
    texture_mm: tuple[float, float] = (1.0, 3.75)  # smoothing of the texture's noise
    edge_blur_mm: tuple[float, float] = (0.5, 2.5)
    irregularity: float = 0.25  # amplitude of the outline's displacement, in radii
    erode_mm: float = 4.0  # centres keep this far from the liver's edge
    vessel_hu: float = 35.0  # smoothed voxels this far above the liver's median are vessels
    ring_mm: float = 5.0  # the surrounding liver the tumour's contrast is measured against
    rim_probability: float = 0.0  # of a tumour over rim_min_radius_mm having a fainter rim
    rim_min_radius_mm: float = 10.0
    rim_mm: tuple[float, float] = (2.0, 5.0)  # its thickness
    rim_contrast: tuple[float, float] = (0.1, 0.5)  # its contrast, a share of the core's


#: Tumours for whole labelled volumes: a fainter rim on a third of the large ones (the part
#: of real tumours the stage used to leave out) and fainter lesions than the slice recipe.
VOLUME_RECIPE = TumourRecipe(contrast_hu=(10.0, 70.0), rim_probability=0.35)


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


def insert_tumours(hu: np.ndarray, liver: np.ndarray, spacing, rng: np.random.Generator,
                   recipe: TumourRecipe = TumourRecipe(),
                   avoid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(HU with 1..max_tumours synthetic tumours, their bool mask).

    ``hu`` is an (H, W) slice or a (Z, H, W) volume, ``liver`` its bool liver mask,
    ``spacing`` the voxel size in mm per axis (one number: square pixels of a slice).
    No tumour is centred in, or drawn over, ``avoid`` (e.g. labelled real tumours). A liver
    too small to hold a tumour comes back unchanged with an empty mask.
    """
    spacing = np.broadcast_to(np.asarray(spacing, np.float64), (hu.ndim,)).copy()
    out = hu.astype(np.float32, copy=True)
    tumour = np.zeros(hu.shape, bool)
    allowed = liver if avoid is None else liver & ~avoid
    inner = ndimage.distance_transform_edt(liver, sampling=spacing) > recipe.erode_mm
    inner &= allowed
    if not inner.any():
        return out, tumour
    liver_median = float(np.median(out[liver]))
    vessels = ndimage.gaussian_filter(out, 1.5 / spacing) > liver_median + recipe.vessel_hu
    candidates = inner & ~vessels
    if not candidates.any():
        candidates = inner
    for _ in range(int(rng.integers(1, recipe.max_tumours + 1))):
        radius = float(np.exp(rng.uniform(*np.log(recipe.radius_mm))))
        window = _window(candidates, radius, spacing, rng, recipe)
        shape = _tumour_shape(window, radius, spacing, rng, recipe) & allowed[window.box]
        if shape.any():
            out[window.box] = _paint(out[window.box], shape, liver[window.box], liver_median,
                                     radius, spacing, rng, recipe)
            tumour[window.box] |= shape
    return out, tumour


@dataclass(frozen=True)
class _Window:
    box: tuple[slice, ...]  # where the tumour is drawn
    centre: np.ndarray  # its centre, in voxels of the window


def _window(candidates: np.ndarray, radius: float, spacing: np.ndarray,
            rng: np.random.Generator, recipe: TumourRecipe) -> _Window:
    points = np.flatnonzero(candidates)
    centre = np.array(np.unravel_index(points[int(rng.integers(len(points)))],
                                       candidates.shape), float)
    reach = np.ceil((2.2 * radius + recipe.ring_mm + 3 * recipe.edge_blur_mm[1])
                    / spacing).astype(int)
    low = np.maximum(centre.astype(int) - reach, 0)
    high = np.minimum(centre.astype(int) + reach + 1, candidates.shape)
    return _Window(tuple(slice(a, b) for a, b in zip(low, high, strict=True)), centre - low)


def _tumour_shape(window: _Window, radius: float, spacing: np.ndarray,
                  rng: np.random.Generator, recipe: TumourRecipe) -> np.ndarray:
    """A lobed, irregular ellipse or ellipsoid of about ``radius`` mm in the window."""
    size = tuple(s.stop - s.start for s in window.box)
    lobes = 1 if radius < 15 else int(rng.integers(2, 4))
    grid = np.indices(size, dtype=np.float32)
    distance = np.full(size, np.inf, np.float32)
    for lobe in range(lobes):
        offset = rng.normal(0, 0.35 * radius, len(size)) if lobe else np.zeros(len(size))
        axes = radius * rng.uniform(0.6, 1.0, len(size)) * (0.8 if lobe else 1.0)
        mm = [(grid[axis] - window.centre[axis]) * spacing[axis] - offset[axis]
              for axis in range(len(size))]
        angle = rng.uniform(0, np.pi)  # in the axial plane (the last two axes)
        u = mm[-2] * np.cos(angle) + mm[-1] * np.sin(angle)
        v = -mm[-2] * np.sin(angle) + mm[-1] * np.cos(angle)
        squared = (u / axes[-2]) ** 2 + (v / axes[-1]) ** 2
        for axis in range(len(size) - 2):
            squared += (mm[axis] / axes[axis]) ** 2
        distance = np.minimum(distance, np.sqrt(squared))
    wobble = ndimage.gaussian_filter(rng.standard_normal(size).astype(np.float32),
                                     np.maximum(1.0, 0.3 * radius / spacing))
    wobble *= recipe.irregularity / (wobble.std() + 1e-6)
    return distance + wobble < 1.0


def _paint(out: np.ndarray, shape: np.ndarray, liver: np.ndarray, liver_median: float,
           radius: float, spacing: np.ndarray, rng: np.random.Generator,
           recipe: TumourRecipe) -> np.ndarray:
    outside = ndimage.distance_transform_edt(~shape, sampling=spacing)
    ring = (outside <= recipe.ring_mm) & liver & ~shape
    surrounding = float(np.median(out[ring])) if ring.any() else liver_median
    contrast = rng.uniform(*recipe.contrast_hu)
    sign = 1.0 if rng.random() < recipe.hyperdense_probability else -1.0
    texture = ndimage.gaussian_filter(rng.uniform(-1, 1, out.shape).astype(np.float32),
                                      rng.uniform(*recipe.texture_mm) / spacing)
    texture *= rng.uniform(*recipe.texture_hu) / (texture.std() + 1e-6)
    inside = surrounding + sign * contrast + texture
    if radius >= recipe.rim_min_radius_mm and rng.random() < recipe.rim_probability:
        depth = ndimage.distance_transform_edt(shape, sampling=spacing)
        rim = shape & (depth <= rng.uniform(*recipe.rim_mm))
        inside = np.where(rim, surrounding + sign * contrast * rng.uniform(*recipe.rim_contrast)
                          + texture, inside)
    # a small tumour's edge blurs over at most a third of its radius: it stays visible
    blur = min(rng.uniform(*recipe.edge_blur_mm), radius / 3) / spacing
    weight = ndimage.gaussian_filter(shape.astype(np.float32), blur) * liver
    return out * (1 - weight) + inside * weight
