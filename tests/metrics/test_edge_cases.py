"""Metric edge cases computed by hand (issue 21): IoU exactly 0.5, merged and split
lesions, directed percentiles that differ, aggregates over cases where a figure is
undefined, and the tumour burden RMSE."""
from __future__ import annotations

import math

import numpy as np
import pytest

from livseg.metrics import evaluate_case
from livseg.metrics.evaluate import aggregate
from livseg.metrics.lesions import lesion_counts
from livseg.metrics.surface import surface_distances


def _line(length: int, start: int = 0, size: int = 64) -> np.ndarray:
    mask = np.zeros((1, 1, size), bool)
    mask[0, 0, start:start + length] = True
    return mask


def test_iou_of_exactly_one_half_is_no_match():
    reference = _line(4)
    prediction = _line(2)  # 2 of the 4 voxels: IoU 2/4 = 0.5, not above it
    rates = lesion_counts(prediction, reference).rates()
    assert rates["recall_iou50"] == 0.0 and rates["precision_iou50"] == 0.0
    assert rates["recall_any"] == 1.0 and rates["precision_any"] == 1.0
    just_above = lesion_counts(_line(3), _line(5)).rates()  # IoU 3/5
    assert just_above["recall_iou50"] == 1.0


def test_a_lesion_merging_two_and_a_lesion_split_in_two():
    reference = _line(4) | _line(4, start=6)  # two lesions, a gap of 2 voxels
    merged = _line(10)  # one lesion over both: IoU 4/10 with each
    rates = lesion_counts(merged, reference).rates()
    assert (rates["n_reference"], rates["n_predicted"]) == (2, 1)
    assert rates["recall_iou50"] == 0.0 and rates["precision_iou50"] == 0.0
    assert rates["recall_any"] == 1.0 and rates["precision_any"] == 1.0
    split = lesion_counts(_line(3) | _line(3, start=5), _line(8)).rates()  # IoU 3/8 each
    assert (split["n_reference"], split["n_predicted"]) == (1, 2)
    assert split["recall_iou50"] == 0.0 and split["f1_iou50"] == 0.0
    assert split["recall_any"] == 1.0 and split["precision_any"] == 1.0


def test_hd95_is_the_larger_directed_percentile_not_a_pooled_one():
    """Prediction: 20 voxels on a line; reference: the same and 2 voxels 21 and 22 mm
    beyond. Prediction -> reference: 20 zeros; reference -> prediction: 20 zeros, 21, 22,
    whose 95th percentile (numpy's linear rule) is 0.95 x 21 = 19.95. Pooled, the 95th
    percentile of all 42 distances would be 0."""
    prediction = _line(20)
    reference = prediction | _line(2, start=40)
    found = surface_distances(prediction, reference, (1.0, 1.0, 1.0))
    assert found.hd95_mm == pytest.approx(19.95)
    assert found.assd_mm == pytest.approx((21 + 22) / 42)
    assert found.msd_mm == pytest.approx(22.0)
    assert np.percentile([0.0] * 40 + [21.0, 22.0], 95) == 0.0  # what pooling would give


def _case(tumour_voxels: int, predicted_tumour_voxels: int, liver_voxels: int = 100):
    """A label map pair with ``liver_voxels`` of liver (tumour included)."""
    reference = np.zeros((1, 10, 20), np.uint8)
    reference.flat[:liver_voxels] = 1
    prediction = reference.copy()
    reference.flat[:tumour_voxels] = 2
    prediction.flat[:predicted_tumour_voxels] = 2
    return prediction, reference


def test_tumour_burden_rmse_by_hand():
    # burdens: reference 10/100 and 20/100, predicted 15/100 and 20/100 -> errors 0.05, 0
    results = [evaluate_case(*_case(10, 15), (1.0, 1.0, 1.0), "a"),
               evaluate_case(*_case(20, 20), (1.0, 1.0, 1.0), "b")]
    assert [r.tumour_burden_error for r in results] == pytest.approx([0.05, 0.0])
    lesions = aggregate(results)["lesions"]
    assert lesions["tumour_burden_rmse"] == pytest.approx(math.sqrt(0.05 ** 2 / 2))
    assert lesions["tumour_burden_max_error"] == pytest.approx(0.05)


def test_undefined_figures_leave_the_mean_and_are_counted():
    """A case whose prediction has no tumour while its reference has one: Dice 0 counts
    in the mean; its surface distances are undefined (no surface to measure to), so they
    leave the mean of the distances, and the aggregate says how many cases did."""
    found = evaluate_case(*_case(10, 10), (1.0, 1.0, 1.0), "found")
    missed = evaluate_case(*_case(10, 0), (1.0, 1.0, 1.0), "missed")
    tumour = aggregate([found, missed])["tumour"]
    assert tumour["dice_per_case"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert tumour["assd_mm"] == 0.0 and tumour["hd95_mm"] == 0.0  # the found case alone
    assert tumour["undefined"] == {"assd_mm": 1, "hd95_mm": 1, "msd_mm": 1}
    assert aggregate([found, found])["tumour"]["undefined"] == {}
