"""Resizing and resampling: linear for images, nearest neighbour for labels.

Two kinds of spatial change, each with its inverse:

* :func:`resize_in_plane` changes the (y, x) size of slices to the network's input size
  and back (pure array operation, geometry untouched);
* :func:`resample_to_spacing` puts a volume on a new voxel spacing over the same field of
  view, and :func:`resample_to_grid` puts it back on any reference grid (SimpleITK, so
  direction and origin are honoured exactly).
"""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from livseg.io.files import volume_from_sitk, volume_to_sitk
from livseg.io.volume import Volume


def resize_in_plane(array: np.ndarray, size_yx: tuple[int, int], is_label: bool) -> np.ndarray:
    """Resize the last two axes of ``array`` (..., H, W) to ``size_yx``.

    Images use bilinear interpolation (float32 out); labels use nearest neighbour and keep
    their dtype. Calling it again with the original (H, W) is the inverse.
    """
    import torch  # imported here so that reading and scoring volumes never loads torch
    import torch.nn.functional as F

    if tuple(array.shape[-2:]) == tuple(size_yx):
        return array.copy()
    lead = array.shape[:-2]
    flat = torch.from_numpy(np.ascontiguousarray(array).reshape(-1, 1, *array.shape[-2:]))
    if is_label:
        out = F.interpolate(flat.to(torch.float32), size=tuple(size_yx), mode="nearest-exact")
        return out.numpy().astype(array.dtype).reshape(*lead, *size_yx)
    out = F.interpolate(flat.to(torch.float32), size=tuple(size_yx), mode="bilinear",
                        align_corners=False, antialias=False)
    return out.numpy().reshape(*lead, *size_yx)


def shape_at_pixel_size(shape_yx: tuple[int, int], spacing_yx: tuple[float, float],
                        pixel_mm: float) -> tuple[int, int]:
    """The (H, W) that slices of ``shape_yx`` at ``spacing_yx`` mm take at ``pixel_mm``; resize
    to it with :func:`resize_in_plane`, and back with the original shape."""
    return tuple(max(1, round(n * s / pixel_mm))  # type: ignore[return-value]
                 for n, s in zip(shape_yx, spacing_yx, strict=True))


def _interpolator(is_label: bool) -> int:
    return sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear


def resample_to_spacing(volume: Volume, spacing: tuple[float, float, float], is_label: bool,
                        fill_value: float = 0.0) -> Volume:
    """``volume`` on a new voxel ``spacing`` (x, y, z mm) covering the same field of view."""
    old_spacing = np.asarray(volume.spacing)
    new_spacing = np.asarray(spacing, dtype=float)
    size_xyz = np.asarray(volume.shape[::-1])
    new_size = np.maximum(1, np.round(size_xyz * old_spacing / new_spacing)).astype(int)
    shift = volume.direction_matrix @ (0.5 * (new_spacing - old_spacing))
    reference = sitk.Image([int(s) for s in new_size], sitk.sitkUInt8)
    reference.SetSpacing(tuple(new_spacing))
    reference.SetOrigin(tuple(np.asarray(volume.origin) + shift))
    reference.SetDirection(volume.direction)
    resampled = sitk.Resample(volume_to_sitk(volume), reference, sitk.Transform(),
                              _interpolator(is_label), fill_value)
    return _keep_notes(volume_from_sitk(resampled), volume)


def resample_to_grid(volume: Volume, reference: Volume, is_label: bool,
                     fill_value: float = 0.0) -> Volume:
    """``volume`` resampled onto ``reference``'s exact grid (shape, spacing, origin, direction).

    This is the inverse of :func:`resample_to_spacing` when ``reference`` is the original.
    """
    grid = sitk.Image([int(s) for s in reference.shape[::-1]], sitk.sitkUInt8)
    grid.SetSpacing(reference.spacing)
    grid.SetOrigin(reference.origin)
    grid.SetDirection(reference.direction)
    resampled = sitk.Resample(volume_to_sitk(volume), grid, sitk.Transform(),
                              _interpolator(is_label), fill_value)
    return _keep_notes(volume_from_sitk(resampled), volume)


def _keep_notes(new: Volume, old: Volume) -> Volume:
    if not old.notes:
        return new
    return Volume(new.array, new.spacing, new.origin, new.direction, notes=old.notes)
