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

    Images use bilinear interpolation (float32 out), labels nearest neighbour (their dtype
    kept); both sample at pixel centres, exactly as torch's ``interpolate`` with
    ``align_corners=False`` ("bilinear" and "nearest-exact"), so that training (tensors) and
    inference (NumPy, no torch needed) see the same pixels. Calling it again with the
    original (H, W) is the inverse.
    """
    size_yx = (int(size_yx[0]), int(size_yx[1]))
    if tuple(array.shape[-2:]) == size_yx:
        return array.copy()
    if is_label:
        rows = _nearest_index(array.shape[-2], size_yx[0])
        columns = _nearest_index(array.shape[-1], size_yx[1])
        return np.ascontiguousarray(array[..., rows[:, None], columns[None, :]])
    out = np.asarray(array, dtype=np.float32)
    axes = ((-2, size_yx[0]), (-1, size_yx[1]))
    if size_yx[1] > array.shape[-1]:  # gathering along x is the slow pass: do it while small
        axes = axes[::-1]
    for axis, n_out in axes:
        if out.shape[axis] != n_out:
            out = _linear_along(out, axis, n_out)
    return np.ascontiguousarray(out, dtype=np.float32)


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each output pixel, nearest to its centre."""
    return np.minimum(np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.intp),
                      n_in - 1)


def _linear_along(array: np.ndarray, axis: int, n_out: int) -> np.ndarray:
    """Linear interpolation along one axis at the output pixels' centres (edges clamped)."""
    n_in = array.shape[axis]
    if n_in == 2 * n_out:  # 512 -> 256, the usual case: the mean of each pair, by slicing
        return _halved(array, axis)
    if n_out == 2 * n_in and n_in > 1:  # and back: weights 3/4 and 1/4, by slicing
        return _doubled(array, axis)
    source = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(np.intp), n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    weight = (source - low).astype(np.float32).reshape((-1,) + (1,) * (-axis - 1))
    below, above = np.take(array, low, axis=axis), np.take(array, high, axis=axis)
    above -= below
    above *= weight
    above += below
    return above


def _along(axis: int, part: slice) -> tuple:
    return (Ellipsis, part) + (slice(None),) * (-axis - 1)


def _halved(array: np.ndarray, axis: int) -> np.ndarray:
    out = array[_along(axis, slice(0, None, 2))] + array[_along(axis, slice(1, None, 2))]
    out *= np.float32(0.5)
    return out


def _doubled(array: np.ndarray, axis: int) -> np.ndarray:
    shape = list(array.shape)
    shape[axis] *= 2
    out = np.empty(shape, np.float32)
    main = array * np.float32(0.75)
    even, odd = out[_along(axis, slice(0, None, 2))], out[_along(axis, slice(1, None, 2))]
    np.multiply(array[_along(axis, slice(0, -1))], np.float32(0.25),
                out=even[_along(axis, slice(1, None))])
    np.multiply(array[_along(axis, slice(1, None))], np.float32(0.25),
                out=odd[_along(axis, slice(0, -1))])
    even[_along(axis, slice(0, 1))] = array[_along(axis, slice(0, 1))] * np.float32(0.25)
    odd[_along(axis, slice(-1, None))] = array[_along(axis, slice(-1, None))] * np.float32(0.25)
    even += main
    odd += main
    return out


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
