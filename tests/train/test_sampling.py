"""Sampling weights of training slices: the foreground over-sampled, small pieces more."""
from __future__ import annotations

import numpy as np
import pytest

from livseg.errors import LivsegInputError
from livseg.train.config import TrainConfig
from livseg.train.sampling import has_small_piece, slice_weights


def _slices() -> np.ndarray:
    """Four 64x64 slices at 1 mm: nothing; a 20 mm disc; a 6 mm disc; both."""
    yy, xx = np.mgrid[:64, :64]
    big = (yy - 20) ** 2 + (xx - 20) ** 2 <= 10 ** 2
    small = (yy - 50) ** 2 + (xx - 50) ** 2 <= 3 ** 2
    return np.stack([np.zeros_like(big), big, small, big | small])


def test_a_slice_is_small_when_one_of_its_pieces_is_under_the_diameter():
    target = _slices()
    np.testing.assert_array_equal(has_small_piece(target, 1.0, 10.0), [False, False, True, True])
    # at 0.25 mm pixels the 20 mm disc is 5 mm across: small too
    np.testing.assert_array_equal(has_small_piece(target, 0.25, 10.0), [False, True, True, True])


def test_slice_weights_over_sample_the_foreground_and_small_pieces_more():
    target = _slices()
    np.testing.assert_array_equal(slice_weights(target, 3.0), [1, 3, 3, 3])
    np.testing.assert_array_equal(slice_weights(target, 3.0, 2.0, 1.0, 10.0), [1, 3, 6, 6])


def test_the_small_lesion_boost_cannot_under_sample():
    with pytest.raises(LivsegInputError, match="small_lesion_oversample"):
        TrainConfig(stage="tumour", small_lesion_oversample=0.5)
