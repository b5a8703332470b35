"""2.5D inputs sampled at fixed distances in mm (livseg.preprocess.context)."""
from __future__ import annotations

import numpy as np
import pytest

from livseg.preprocess.context import context_index, context_reach, volume_context


def _ramp(positions_mm) -> np.ndarray:
    """(N, 2, 2) slices whose every pixel holds the slice's position in mm."""
    return np.asarray(positions_mm, np.float64)[:, None, None] * np.ones((1, 2, 2))


def test_neighbours_between_two_slices_are_interpolated_and_clamped_at_the_ends():
    positions = [0.0, 2.0, 4.0, 6.0]
    index = context_index(np.array(positions), k=3, step=3.0)
    seen = index.stack(_ramp(positions))[:, :, 0, 0]
    # slice at 2 mm: -1 mm is beyond the first slice (clamped to 0), 5 mm lies half-way
    # between the slices at 4 and 6 mm
    np.testing.assert_allclose(seen[1], [0.0, 2.0, 5.0])
    np.testing.assert_allclose(seen[0], [0.0, 0.0, 3.0])
    np.testing.assert_allclose(seen[3], [3.0, 6.0, 6.0])
    assert index.lower[1, 2] == 2 and index.upper[1, 2] == 3
    assert index.weight[1, 2] == pytest.approx(0.5)


@pytest.mark.parametrize("slice_mm", [0.7, 1.25, 2.5, 5.0])
def test_the_network_sees_the_same_distances_whatever_the_slice_spacing(slice_mm):
    n = int(round(60 / slice_mm))
    positions = np.arange(n) * slice_mm
    seen = volume_context(n, 5, slice_mm, 5.0).stack(_ramp(positions))[:, :, 0, 0]
    inside = (positions >= 10) & (positions <= positions[-1] - 10)
    expected = positions[inside, None] + np.array([-10, -5, 0, 5, 10])
    np.testing.assert_allclose(seen[inside], expected, atol=1e-9)


def test_unordered_rows_volumes_and_isolated_slices_never_mix():
    positions = np.array([4.0, 0.0, 2.0, np.nan, 0.0, 2.0])
    groups = np.array(["a", "a", "a", "b", "c", "c"])
    index = context_index(positions, k=3, step=2.0, groups=groups)
    assert index.lower[0].tolist() == [2, 0, 0]  # a at 4 mm: 2 mm is row 2, 6 mm clamps to 4
    assert index.lower[1].tolist() == [1, 1, 2]
    assert index.lower[3].tolist() == [3, 3, 3] and index.upper[3].tolist() == [3, 3, 3]
    assert set(index.lower[4:].ravel()) | set(index.upper[4:].ravel()) == {4, 5}
    assert not index.weight.any()  # every neighbour here is a slice that exists


def test_adjacent_slices_without_a_step():
    index = volume_context(4, 3, 2.5, None)
    assert index.lower.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]]
    assert not index.weight.any()
    single = volume_context(1, 5, 1.0, 5.0)
    assert single.lower.tolist() == [[0] * 5]


def test_reach_counts_the_slices_a_block_needs_beyond_its_ends():
    assert context_reach(1, 1.0, 5.0) == 0
    assert context_reach(5, 1.0, 5.0) == 10
    assert context_reach(5, 2.0, 5.0) == 5
    assert context_reach(3, 0.8, None) == 1
