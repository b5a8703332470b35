"""Lesion size (longest axial diameter) and lesion recall by size class, against shapes
whose answer is known by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from livseg.io.volume import Volume
from livseg.metrics.cases import evaluate_volumes
from livseg.metrics.lesion_size import RecallBySize, longest_axial_diameter, recall_by_size
from livseg.metrics.lesions import match_lesions


def test_the_longest_axial_diameter_is_the_rectangles_diagonal_in_mm():
    mask = np.zeros((3, 20, 20), bool)
    mask[1, 2:7, 3:13] = True  # 5 x 10 voxels: centres 4 rows and 9 columns apart
    assert longest_axial_diameter(mask, (2.0, 1.0)) == pytest.approx(math.hypot(8, 9))
    # the widest slice counts, not the extent across slices
    mask[0, 2, 3:5] = True
    assert longest_axial_diameter(mask, (2.0, 1.0)) == pytest.approx(math.hypot(8, 9))
    single = np.zeros((1, 4, 4), bool)
    single[0, 1, 1] = True
    assert longest_axial_diameter(single, (0.7, 0.9)) == pytest.approx(0.7)


def _square(mask: np.ndarray, z: slice, corner: tuple[int, int], side: int) -> None:
    mask[z, corner[0]:corner[0] + side, corner[1]:corner[1] + side] = True


def test_recall_counts_each_reference_lesion_in_its_size_class():
    """At 1 mm pixels: squares of 5, 12 and 30 voxels have diagonals of 5.7, 15.6 and 41 mm
    (classes under 10, 10-20, over 20 mm). Found well, found poorly, missed."""
    reference = np.zeros((4, 80, 80), bool)
    prediction = np.zeros_like(reference)
    _square(reference, slice(1, 3), (2, 2), 5)
    _square(prediction, slice(1, 3), (2, 2), 5)  # IoU 1
    _square(reference, slice(1, 3), (2, 20), 12)
    _square(prediction, slice(1, 2), (2, 20), 4)  # touches it: IoU 16/288
    _square(reference, slice(1, 3), (40, 40), 30)  # missed
    _square(reference, slice(1, 3), (2, 40), 6)  # a second small one, found
    _square(prediction, slice(1, 3), (2, 40), 6)
    found = recall_by_size(match_lesions(prediction, reference), (3.0, 1.0, 1.0)).as_dict()
    assert found["under_10mm"] == {"n_reference": 2, "detected_iou50": 2, "detected_any": 2,
                                   "recall_iou50": 1.0, "recall_any": 1.0}
    assert found["10_to_20mm"]["n_reference"] == 1
    assert found["10_to_20mm"]["recall_iou50"] == 0.0 and found["10_to_20mm"]["recall_any"] == 1
    assert found["over_20mm"]["n_reference"] == 1 and found["over_20mm"]["recall_any"] == 0.0


def test_pixel_size_moves_a_lesion_between_classes_and_counts_add_up():
    reference = np.zeros((2, 30, 30), bool)
    _square(reference, slice(0, 2), (2, 2), 8)  # diagonal 7 * sqrt(2) voxels = 9.9 pixels
    matches = match_lesions(reference, reference)
    small = recall_by_size(matches, (1.0, 1.0, 1.0))
    large = recall_by_size(matches, (1.0, 1.5, 1.5))  # 14.8 mm
    assert small.reference == (1, 0, 0) and large.reference == (0, 1, 0)
    total = small + large + RecallBySize.empty()
    assert total.reference == (1, 1, 0) and total.detected_iou50 == (1, 1, 0)
    assert RecallBySize.from_dict(total.as_dict()) == total
    assert total.as_dict()["over_20mm"]["recall_iou50"] is None  # no lesion to recall


def test_diameters_are_axial_whatever_the_files_orientation():
    """The same label map stored sagittally (array axes permuted, direction saying so) is
    measured in the patient's axial plane: the same size classes as stored axially."""
    labels = np.zeros((6, 40, 40), np.uint8)
    labels[1:5, 5:35, 5:35] = 1
    labels[1:5, 10:12, 10:14] = 2  # axially 2 x 4 voxels of 2 mm: 6.3 mm (under 10 mm);
    # in a sagittal plane 4 slices of 5 mm by 2 voxels: 15.1 mm (10-20 mm)
    axial = Volume(labels, spacing=(2.0, 2.0, 5.0))
    # array axes (z, y, x) -> (x, z, y): ITK index i, j, k runs along patient y, z, x
    stored = np.ascontiguousarray(labels.transpose(2, 0, 1))
    direction = (0.0, 0.0, 1.0,  1.0, 0.0, 0.0,  0.0, 1.0, 0.0)
    sagittal = Volume(stored, spacing=(2.0, 5.0, 2.0), direction=direction)
    found_axial = evaluate_volumes(axial, axial).lesions_by_size
    found_sagittal = evaluate_volumes(sagittal, sagittal).lesions_by_size
    assert found_axial == found_sagittal and found_axial.reference == (1, 0, 0)
