"""3D clean-up of the stage outputs; every function returns a new mask (inputs untouched).

Sizes are in millimetres and mm³, converted with the voxel spacing, never in voxels.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from livseg.preprocess import crop, mask_bbox, uncrop


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a bool mask (empty stays empty)."""
    labels, count = ndimage.label(mask, structure=np.ones((3,) * mask.ndim, bool))
    if count <= 1:
        return labels > 0
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Holes filled in 3D, then in each axial slice (a vessel that opens at the top or
    bottom of the liver is no 3D hole, but it is one in its slice)."""
    filled = ndimage.binary_fill_holes(mask)
    for z in np.flatnonzero(filled.any(axis=(1, 2))):
        filled[z] = ndimage.binary_fill_holes(filled[z])
    return filled


def clean_liver(liver: np.ndarray) -> np.ndarray:
    """The liver as one solid organ: its largest component with the holes filled."""
    box = mask_bbox(liver, None, 1)  # work on the mask's box only: same result, less time
    if box is None:
        return np.zeros(liver.shape, bool)
    organ = largest_component(crop(liver, box))
    inner = mask_bbox(organ, None, 1)
    solid = uncrop(fill_holes(crop(organ, inner)), inner, organ.shape, False)
    return uncrop(solid, box, liver.shape, False)


def dilate_mm(mask: np.ndarray, spacing_zyx: tuple[float, ...], radius_mm: float) -> np.ndarray:
    """Voxels within ``radius_mm`` (Euclidean, in mm) of the mask."""
    box = mask_bbox(mask, spacing_zyx, radius_mm)
    if box is None:
        return np.zeros(mask.shape, bool)
    inside = crop(mask, box)
    near = ndimage.distance_transform_edt(~inside, sampling=spacing_zyx) <= radius_mm
    return uncrop(near, box, mask.shape, False)


def clean_tumours(tumour: np.ndarray, liver: np.ndarray, spacing_zyx: tuple[float, ...],
                  liver_margin_mm: float = 3.0, min_lesion_mm3: float = 20.0) -> np.ndarray:
    """Tumour voxels inside the liver grown by ``liver_margin_mm``, without 26-connected
    lesions smaller than ``min_lesion_mm3``."""
    near = mask_bbox(tumour, spacing_zyx, liver_margin_mm)  # the only place that matters:
    if near is None:  # a liver voxel within the margin of a tumour voxel lies in this box
        return np.zeros(tumour.shape, bool)
    grown = dilate_mm(crop(liver, near), spacing_zyx, liver_margin_mm)
    kept = tumour & uncrop(grown, near, tumour.shape, False)
    labels, count = ndimage.label(kept, structure=np.ones((3, 3, 3), bool))
    if count == 0:
        return kept
    voxel_mm3 = float(np.prod(spacing_zyx))
    large = np.flatnonzero(np.bincount(labels.ravel())[1:] * voxel_mm3 >= min_lesion_mm3) + 1
    return np.isin(labels, large)


def label_map(liver: np.ndarray, tumour: np.ndarray) -> np.ndarray:
    """LiTS labels: 0 background, 1 liver, 2 tumour (tumour wins where both)."""
    out = liver.astype(np.uint8)
    out[tumour] = 2
    return out
