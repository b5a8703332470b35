"""Canonical axial orientation for the networks, and its inverse.

The canonical orientation is the usual DICOM axial one (LPS): array axes (z, y, x) run
towards the patient's superior, posterior and left side, so that a slice ``array[k]`` is
seen as a radiologist sees it (patient's right on the image's left, anterior at the top).
Only axis permutations and flips are used, so no voxel is interpolated and the inverse is
exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livseg.io.volume import Volume


@dataclass(frozen=True)
class Reorientation:
    """How an array was brought to canonical order.

    ``axes[i]`` is the original array axis that becomes canonical axis ``i`` (array order
    z, y, x); ``flipped[i]`` says whether that canonical axis was reversed afterwards.
    """

    axes: tuple[int, int, int]
    flipped: tuple[bool, bool, bool]

    @property
    def is_identity(self) -> bool:
        return self.axes == (0, 1, 2) and not any(self.flipped)


def canonical_reorientation(direction: tuple[float, ...]) -> Reorientation:
    """The permutation and flips that bring index axes closest to L, P, S (x, y, z)."""
    matrix = np.asarray(direction, dtype=float).reshape(3, 3)  # columns: index axes i, j, k
    remaining = [0, 1, 2]
    source_of_patient_axis = [0, 0, 0]
    for patient_axis in np.argsort(-np.abs(matrix).max(axis=1)):  # most decided axis first
        index_axis = max(remaining, key=lambda a: abs(matrix[patient_axis, a]))
        remaining.remove(index_axis)
        source_of_patient_axis[patient_axis] = index_axis
    # patient axis p (x, y, z) comes from ITK index axis source[p]; array axis = 2 - index axis
    axes = tuple(2 - source_of_patient_axis[p] for p in (2, 1, 0))
    flipped = tuple(bool(matrix[p, source_of_patient_axis[p]] < 0) for p in (2, 1, 0))
    return Reorientation(axes=axes, flipped=flipped)  # type: ignore[arg-type]


def reorient_array(array: np.ndarray, reorientation: Reorientation) -> np.ndarray:
    """Apply ``reorientation`` to a (z, y, x) array, or to a (..., z, y, x) stack."""
    lead = array.ndim - 3
    out = np.transpose(array, tuple(range(lead)) + tuple(lead + a for a in reorientation.axes))
    flip_axes = tuple(lead + i for i, f in enumerate(reorientation.flipped) if f)
    return np.flip(out, axis=flip_axes) if flip_axes else out


def restore_array(array: np.ndarray, reorientation: Reorientation) -> np.ndarray:
    """Undo :func:`reorient_array`: bring a canonical array back to the original order."""
    lead = array.ndim - 3
    flip_axes = tuple(lead + i for i, f in enumerate(reorientation.flipped) if f)
    out = np.flip(array, axis=flip_axes) if flip_axes else array
    inverse = np.argsort(reorientation.axes)
    return np.transpose(out, tuple(range(lead)) + tuple(lead + int(a) for a in inverse))


def to_canonical(volume: Volume, copy: bool = True) -> tuple[Volume, Reorientation]:
    """``volume`` in canonical axial orientation, with the geometry updated to match.

    Returns the reoriented volume (same physical voxels, same world coordinates) and the
    :class:`Reorientation` that :func:`from_canonical` needs to undo it. With ``copy=False``
    its array is a strided view of the input's (no memory; for readers of a huge volume).
    """
    reorientation = canonical_reorientation(volume.direction)
    if reorientation.is_identity:
        return volume, reorientation
    array = reorient_array(volume.array, reorientation)
    if copy:
        array = np.ascontiguousarray(array)
    old_direction = volume.direction_matrix
    spacing_zyx = np.asarray(volume.spacing_zyx)
    # new array axis i comes from old array axis axes[i]; ITK index axis = 2 - array axis
    new_direction = np.empty((3, 3))
    new_spacing_zyx = np.empty(3)
    corner_zyx = np.zeros(3)  # old array index of the new origin voxel
    for i, (a, f) in enumerate(zip(reorientation.axes, reorientation.flipped, strict=True)):
        column = old_direction[:, 2 - a] * (-1.0 if f else 1.0)
        new_direction[:, 2 - i] = column
        new_spacing_zyx[i] = spacing_zyx[a]
        corner_zyx[a] = volume.shape[a] - 1 if f else 0
    origin = volume.index_to_physical(corner_zyx)
    canonical = Volume(array=array, spacing=tuple(new_spacing_zyx[::-1]), origin=tuple(origin),
                       direction=tuple(new_direction.ravel() + 0.0), notes=volume.notes)
    return canonical, reorientation


def from_canonical(canonical_array: np.ndarray, original: Volume,
                   reorientation: Reorientation) -> Volume:
    """A result computed on the canonical array, back on ``original``'s grid."""
    array = np.ascontiguousarray(restore_array(canonical_array, reorientation))
    return original.with_array(array)
