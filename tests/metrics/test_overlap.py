from __future__ import annotations

import numpy as np
import pytest

from livseg.metrics.overlap import Confusion, overlap_scores


def _cubes(shift: int = 1):
    pred = np.zeros((10, 10, 10), bool)
    ref = np.zeros((10, 10, 10), bool)
    pred[2:6, 2:6, 2:6] = True
    ref[2:6, 2:6, 2 + shift:6 + shift] = True
    return pred, ref


def test_cube_shifted_one_voxel_by_hand():
    c = Confusion.of(*_cubes())
    assert (c.tp, c.fp, c.fn, c.tn) == (48, 16, 16, 920)
    s = overlap_scores(c)
    assert s["dice"] == pytest.approx(96 / 128)
    assert s["iou"] == pytest.approx(48 / 80)
    assert s["voe"] == pytest.approx(1 - 48 / 80)
    assert s["rvd"] == 0
    assert s["accuracy"] == pytest.approx(968 / 1000)
    assert s["sensitivity"] == pytest.approx(48 / 64)
    assert s["specificity"] == pytest.approx(920 / 936)
    assert s["precision"] == pytest.approx(48 / 64)
    assert s["efficiency"] == pytest.approx((48 / 64 + 920 / 936 + 968 / 1000) / 3)


def test_rvd_is_signed():
    pred = np.zeros(100, bool)
    ref = np.zeros(100, bool)
    ref[:40] = True
    pred[:50] = True
    assert overlap_scores(Confusion.of(pred, ref))["rvd"] == pytest.approx(0.25)
    assert overlap_scores(Confusion.of(ref, pred))["rvd"] == pytest.approx(-0.2)


def test_both_empty_is_perfect_agreement():
    empty = np.zeros((3, 3, 3), bool)
    s = overlap_scores(Confusion.of(empty, empty))
    assert s["dice"] == s["iou"] == s["sensitivity"] == s["precision"] == 1.0
    assert s["voe"] == 0 and s["rvd"] == 0 and s["efficiency"] == 1.0


def test_empty_prediction_of_a_real_structure_scores_zero():
    empty = np.zeros((3, 3, 3), bool)
    ref = empty.copy()
    ref[1, 1, 1] = True
    s = overlap_scores(Confusion.of(empty, ref))
    assert s["dice"] == 0 and s["sensitivity"] == 0 and s["precision"] == 0
    assert s["rvd"] == -1.0


def test_prediction_where_reference_is_empty():
    pred = np.zeros((3, 3, 3), bool)
    pred[0, 0, 0] = True
    s = overlap_scores(Confusion.of(pred, np.zeros_like(pred)))
    assert s["dice"] == 0 and s["sensitivity"] == 0 and s["rvd"] is None
    assert s["specificity"] == pytest.approx(26 / 27)


def test_confusions_add_up():
    a = Confusion.of(*_cubes(1))
    b = Confusion.of(*_cubes(2))
    total = a + b
    assert total.tp == a.tp + b.tp and total.tn == a.tn + b.tn


def test_shapes_must_match():
    with pytest.raises(ValueError):
        Confusion.of(np.zeros((2, 2)), np.zeros((2, 3)))
