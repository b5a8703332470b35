"""Preprocessing: HU windows, canonical orientation, resampling, crops. Each with its inverse."""
from __future__ import annotations

from livseg.preprocess.crop import BoundingBox, centre_pad, crop, mask_bbox, uncrop
from livseg.preprocess.intensity import (
    LITS_8BIT_WINDOW,
    LIVER_WINDOW,
    hu_from_window,
    hu_window,
    liver_hu_offset,
)
from livseg.preprocess.orientation import (
    Reorientation,
    canonical_reorientation,
    from_canonical,
    reorient_array,
    restore_array,
    to_canonical,
)
from livseg.preprocess.resample import (
    resample_to_grid,
    resample_to_spacing,
    resize_in_plane,
    shape_at_pixel_size,
)

__all__ = [
    "BoundingBox", "centre_pad", "crop", "mask_bbox", "uncrop",
    "LITS_8BIT_WINDOW", "LIVER_WINDOW", "hu_window", "hu_from_window",
    "liver_hu_offset",
    "Reorientation", "canonical_reorientation", "to_canonical", "from_canonical",
    "reorient_array", "restore_array",
    "resample_to_grid", "resample_to_spacing", "resize_in_plane", "shape_at_pixel_size",
]
