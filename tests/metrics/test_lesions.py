from __future__ import annotations

import numpy as np
import pytest

from livseg.metrics.lesions import label_lesions, lesion_counts


def test_detection_at_iou50_and_any_overlap():
    ref = np.zeros((10, 30, 30), bool)
    pred = np.zeros_like(ref)
    ref[2:6, 2:8, 2:8] = True  # A: found well
    pred[2:6, 2:8, 3:8] = True  # IoU 5/6
    ref[2:6, 12:18, 12:18] = True  # B: found poorly
    pred[2:6, 12:15, 12:15] = True  # IoU 1/4
    ref[2:6, 22:26, 22:26] = True  # C: missed
    pred[8:10, 25:28, 2:4] = True  # a false positive
    rates = lesion_counts(pred, ref).rates()
    assert rates["n_reference"] == 3 and rates["n_predicted"] == 3
    assert rates["recall_iou50"] == pytest.approx(1 / 3)
    assert rates["precision_iou50"] == pytest.approx(1 / 3)
    assert rates["f1_iou50"] == pytest.approx(1 / 3)
    assert rates["recall_any"] == pytest.approx(2 / 3)
    assert rates["precision_any"] == pytest.approx(2 / 3)


def test_diagonal_neighbours_are_one_lesion():
    mask = np.zeros((3, 3, 3), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = mask[2, 2, 2] = True
    assert label_lesions(mask)[1] == 1


def test_no_lesions_anywhere_is_perfect_and_missing_all_is_zero():
    empty = np.zeros((4, 4, 4), bool)
    assert lesion_counts(empty, empty).rates()["f1_iou50"] == 1.0
    ref = empty.copy()
    ref[1, 1, 1] = True
    rates = lesion_counts(empty, ref).rates()
    assert rates["recall_iou50"] == 0 and rates["precision_iou50"] == 0 and rates["f1_iou50"] == 0


def test_counts_add_over_cases():
    ref = np.zeros((4, 4, 4), bool)
    ref[1, 1, 1] = True
    total = lesion_counts(ref, ref) + lesion_counts(np.zeros_like(ref), ref)
    assert total.rates()["recall_iou50"] == 0.5


@pytest.mark.parametrize("seed", range(4))
def test_counting_inside_the_foreground_box_matches_the_whole_array(seed):
    """lesion_counts labels only the box that holds both masks: the same counts as
    labelling and overlapping the whole arrays (blobs touching the array's edges too)."""
    from scipy import ndimage

    from livseg.metrics.lesions import overlap_matrix

    rng = np.random.default_rng(seed)
    shape = (30, 40, 50)
    reference = ndimage.binary_dilation(rng.random(shape) > 0.9995, iterations=2)
    prediction = ndimage.binary_dilation(np.roll(reference, rng.integers(-3, 4), axis=2)
                                         | (rng.random(shape) > 0.9998), iterations=1)
    ref_labels, n_ref = label_lesions(reference)
    pred_labels, n_pred = label_lesions(prediction)
    matrix = overlap_matrix(ref_labels, n_ref, pred_labels, n_pred)[1:, 1:]
    union = (np.bincount(ref_labels.ravel(), minlength=n_ref + 1)[1:, None]
             + np.bincount(pred_labels.ravel(), minlength=n_pred + 1)[None, 1:] - matrix)
    matched = matrix / union > 0.5
    counts = lesion_counts(prediction, reference)
    assert n_ref > 3 and (counts.n_reference, counts.n_predicted) == (n_ref, n_pred)
    assert counts.reference_detected_iou50 == matched.any(axis=1).sum()
    assert counts.predicted_matched_iou50 == matched.any(axis=0).sum()
    assert counts.reference_detected_any == (matrix > 0).any(axis=1).sum()
