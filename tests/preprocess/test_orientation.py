from __future__ import annotations

import itertools

import numpy as np
import pytest

from livseg.io import Volume, read_volume, write_volume
from livseg.preprocess import canonical_reorientation, from_canonical, to_canonical
from tests.conftest import shared_file

AXIS_ORDERS = list(itertools.permutations(range(3)))
SIGNS = list(itertools.product((1.0, -1.0), repeat=3))


def _volume_with(direction: np.ndarray) -> Volume:
    array = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    return Volume(array, spacing=(0.5, 1.5, 4.0), origin=(-3.0, 8.0, 20.0),
                  direction=tuple(direction.ravel()))


@pytest.mark.parametrize("order", AXIS_ORDERS)
@pytest.mark.parametrize("signs", SIGNS)
def test_canonical_is_lps_and_keeps_every_voxel_in_place(order, signs):
    direction = np.zeros((3, 3))
    for index_axis, (patient_axis, sign) in enumerate(zip(order, signs, strict=True)):
        direction[patient_axis, index_axis] = sign
    volume = _volume_with(direction)
    canonical, reorientation = to_canonical(volume)
    np.testing.assert_allclose(canonical.direction_matrix, np.eye(3), atol=1e-12)
    # the voxel holding each value sits at the same point in the patient
    for value in (0, 17, 59):
        old = np.argwhere(volume.array == value)[0]
        new = np.argwhere(canonical.array == value)[0]
        np.testing.assert_allclose(canonical.index_to_physical(new),
                                   volume.index_to_physical(old), atol=1e-9)
    restored = from_canonical(canonical.array, volume, reorientation)
    np.testing.assert_array_equal(restored.array, volume.array)
    assert restored.same_grid(volume)


def test_oblique_direction_picks_the_nearest_axes():
    angle = np.radians(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                         [0, 0, 1]])
    direction = rotation @ np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], dtype=float)
    reorientation = canonical_reorientation(tuple(direction.ravel()))
    canonical, _ = to_canonical(_volume_with(direction))
    assert np.all(np.diag(canonical.direction_matrix) > 0.9)
    assert not reorientation.is_identity


def test_stacks_of_channels_are_reoriented_too(oblique_volume):
    canonical, reorientation = to_canonical(oblique_volume)
    from livseg.preprocess import reorient_array, restore_array

    stack = np.stack([oblique_volume.array, oblique_volume.array * 2])
    moved = reorient_array(stack, reorientation)
    np.testing.assert_array_equal(moved[1], canonical.array * 2)
    np.testing.assert_array_equal(restore_array(moved, reorientation), stack)


def _round_trip_file(source, tmp_path):
    volume = read_volume(source)
    canonical, reorientation = to_canonical(volume)
    written = write_volume(from_canonical(canonical.array, volume, reorientation),
                           tmp_path / "back.nii.gz")
    back = read_volume(written)
    np.testing.assert_array_equal(back.array, volume.array)
    assert back.same_grid(volume, tolerance=1e-6)
    return volume, canonical


def test_synthetic_oblique_nifti_survives_canonical_and_back(tmp_path, oblique_volume):
    source = write_volume(oblique_volume, tmp_path / "oblique.nii.gz")
    _, canonical = _round_trip_file(source, tmp_path)
    assert canonical.shape != oblique_volume.shape  # axes really were permuted


def test_real_nifti_with_flipped_axes_survives_canonical_and_back(tmp_path):
    """lits_small: direction diag(-1, -1, 1), anisotropic 5.3 x 5.3 x 5 mm voxels."""
    volume, canonical = _round_trip_file(shared_file("lits_small/volume.nii.gz"), tmp_path)
    assert volume.direction[0] == -1 and canonical.direction[0] == 1
