from __future__ import annotations

import numpy as np
import pytest

from livseg.metrics import evaluate_case, evaluation_report

SCORE_KEYS = {"dice", "iou", "voe", "rvd", "assd_mm", "hd95_mm", "msd_mm", "accuracy",
              "sensitivity", "specificity", "precision", "efficiency"}
LESION_KEYS = {"n_reference", "n_predicted", "recall_iou50", "precision_iou50", "f1_iou50",
               "recall_any", "precision_any"}


def _case():
    ref = np.zeros((6, 10, 10), np.uint8)
    ref[1:5, 1:9, 1:9] = 1
    ref[2:4, 3:6, 3:6] = 2
    pred = ref.copy()
    pred[2:4, 3:6, 3:6] = 1  # tumour missed, called liver
    pred[1, 1, 1] = 0  # one liver voxel missed
    return pred, ref


def test_confusion_matrix_and_liver_includes_tumour():
    pred, ref = _case()
    result = evaluate_case(pred, ref, (2.0, 1.0, 1.0), case="x")
    matrix = result.confusion_matrix
    assert matrix.sum() == pred.size
    assert matrix[2, 1] == 18 and matrix[2, 2] == 0  # every tumour voxel called liver
    assert matrix[1, 0] == 1
    liver = result.structures["liver"]
    n_liver = 4 * 8 * 8
    assert liver["dice"] == pytest.approx(2 * (n_liver - 1) / (2 * n_liver - 1))
    assert result.structures["tumour"]["dice"] == 0.0
    assert result.structures["tumour"]["assd_mm"] is None  # nothing predicted to measure
    assert result.lesions.rates()["recall_any"] == 0.0
    assert result.tumour_burden_error == pytest.approx(18 / n_liver)


def test_report_has_the_contracted_shape():
    pred, ref = _case()
    report = evaluation_report([evaluate_case(pred, ref, (1, 1, 1), case="a"),
                                evaluate_case(ref, ref, (1, 1, 1), case="b")])
    case = report["cases"][0]
    assert set(case) == {"case", "liver", "tumour", "lesions", "lesions_by_size", "confusion"}
    assert set(case["liver"]) == SCORE_KEYS and set(case["tumour"]) == SCORE_KEYS
    assert set(case["lesions"]) >= LESION_KEYS
    assert np.array(case["confusion"]).shape == (3, 3)
    aggregate = report["aggregate"]
    for structure in ("liver", "tumour"):
        assert {"dice_per_case", "dice_global"} | (SCORE_KEYS - {"dice"}) <= set(
            aggregate[structure])
    assert set(aggregate["lesions"]) >= LESION_KEYS
    assert set(aggregate["lesions_by_size"]) == {"under_10mm", "10_to_20mm", "over_20mm"}


def test_dice_per_case_and_global_differ_as_defined():
    """A tiny missed tumour and a large perfect one: per-case 0.5, global near 1."""
    small_ref = np.zeros((4, 20, 20), np.uint8)
    small_ref[1:3, 2:18, 2:18] = 1
    small_ref[1, 5, 5] = 2
    small_pred = small_ref.copy()
    small_pred[1, 5, 5] = 1
    large = np.zeros((4, 20, 20), np.uint8)
    large[1:3, 2:18, 2:18] = 1
    large[1:3, 4:14, 4:14] = 2
    report = evaluation_report([evaluate_case(small_pred, small_ref, (1, 1, 1), "small"),
                                evaluate_case(large, large, (1, 1, 1), "large")])
    tumour = report["aggregate"]["tumour"]
    assert tumour["dice_per_case"] == pytest.approx(0.5)
    assert tumour["dice_global"] == pytest.approx(2 * 200 / (200 + 201))


def test_no_tumour_in_either_scores_dice_one():
    ref = np.zeros((3, 5, 5), np.uint8)
    ref[1, 1:4, 1:4] = 1
    tumour = evaluate_case(ref, ref, (1, 1, 1)).structures["tumour"]
    assert tumour["dice"] == 1.0 and tumour["assd_mm"] == 0.0
