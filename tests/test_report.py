"""report.json figures against shapes whose volume, diameter and place are known."""
from __future__ import annotations

import numpy as np
import pytest

from livseg.io import Volume
from livseg.report import build_report


def _labels(direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)) -> Volume:
    array = np.zeros((20, 40, 50), np.uint8)
    array[2:18, 5:35, 5:45] = 1  # liver: 16 x 30 x 40 voxels
    array[4:8, 10:13, 10:30] = 2  # lesion A: 4 slices, 3 x 20 voxels in-plane
    array[12:14, 20:22, 30:32] = 2  # lesion B: 2 x 2 x 2
    return Volume(array, spacing=(0.5, 0.8, 2.0), origin=(-10.0, 5.0, 100.0),
                  direction=tuple(float(d) for d in direction))


def test_volumes_burden_and_lesions():
    report = build_report(_labels(), input_path="ct.nii.gz", models=[], seconds={"read": 0.1})
    voxel_ml = 0.5 * 0.8 * 2.0 / 1000
    assert report["liver_volume_ml"] == pytest.approx(16 * 30 * 40 * voxel_ml, abs=1e-3)
    assert report["tumour_volume_ml"] == pytest.approx((240 + 8) * voxel_ml, abs=1e-3)
    assert report["tumour_burden_percent"] == pytest.approx(100 * 248 / 19200, abs=1e-3)
    assert report["lesion_count"] == 2
    a, b = report["lesions"]
    assert (a["id"], b["id"]) == (1, 2) and a["volume_ml"] > b["volume_ml"]
    # lesion A: corners (y 10..12, x 10..29) -> sqrt((2*0.8)^2 + (19*0.5)^2)
    assert a["longest_axial_diameter_mm"] == pytest.approx(np.hypot(1.6, 9.5), abs=0.01)
    assert a["slices"] == [4, 7] and b["slices"] == [12, 13]
    # centroid of A in index (z, y, x) = (5.5, 11, 19.5); identity direction
    assert a["centroid_mm"] == pytest.approx([-10 + 19.5 * 0.5, 5 + 11 * 0.8, 100 + 5.5 * 2],
                                             abs=0.01)
    assert report["input"]["shape_zyx"] == [20, 40, 50]


def test_lesion_place_is_in_the_inputs_own_coordinates_whatever_its_orientation():
    plain = build_report(_labels(), input_path="a", models=[], seconds={})
    flipped = build_report(_labels((-1, 0, 0, 0, -1, 0, 0, 0, -1)), input_path="b", models=[],
                           seconds={})
    a, fa = plain["lesions"][0], flipped["lesions"][0]
    assert fa["volume_ml"] == a["volume_ml"]
    assert fa["longest_axial_diameter_mm"] == a["longest_axial_diameter_mm"]
    assert fa["slices"] == a["slices"]  # slice numbers of the file, not of a reoriented copy
    offsets = np.array(a["centroid_mm"]) - np.array([-10.0, 5.0, 100.0])
    assert fa["centroid_mm"] == pytest.approx(list(np.array([-10.0, 5.0, 100.0]) - offsets),
                                              abs=0.01)


def test_no_liver_gives_zero_burden():
    empty = _labels().with_array(np.zeros((20, 40, 50), np.uint8))
    report = build_report(empty, input_path="x", models=[], seconds={})
    assert report["liver_volume_ml"] == 0 and report["tumour_burden_percent"] == 0
    assert report["lesions"] == []


def test_each_lesion_gets_its_hu_and_its_contrast_to_the_liver_around_it():
    labels = _labels()
    hu = np.full(labels.shape, -1000.0, np.float32)
    hu[labels.array == 1] = 100.0
    hu[4:8, 10:13, 10:30] = 40.0  # lesion A: 60 HU darker than the liver
    hu[12:14, 20:22, 30:32] = 105.0  # lesion B: 5 HU brighter: isodense
    hu[2:18, 30:35, 5:10] = 160.0  # liver over 10 mm from both lesions: not their shell
    ct = labels.with_array(hu)
    a, b = build_report(labels, input_path="x", models=[], seconds={}, ct=ct)["lesions"]
    assert a["mean_hu"] == 40.0 and a["surrounding_liver_hu"] == 100.0
    assert a["hu_sd"] == 0.0 and a["hu_p10_p90"] == [40.0, 40.0]  # a uniform lesion
    assert a["contrast_hu"] == -60.0 and a["density"] == "hypodense"
    assert b["contrast_hu"] == 5.0 and b["density"] == "isodense"
    hu[12:14, 20:22, 30:32] = 130.0
    b = build_report(labels, input_path="x", models=[], seconds={},
                     ct=labels.with_array(hu))["lesions"][1]
    assert b["contrast_hu"] == 30.0 and b["density"] == "hyperdense"
    without_ct = build_report(labels, input_path="x", models=[], seconds={})["lesions"][0]
    assert "contrast_hu" not in without_ct


def test_a_lesions_hu_spread_is_its_standard_deviation_and_10_90_percentiles():
    labels = _labels()
    hu = np.full(labels.shape, -1000.0, np.float32)
    hu[labels.array == 1] = 100.0
    hu[4:8, 10:13, 10:30] = 20.0
    hu[4:8, 10:13, 10:30:2] = 60.0  # lesion A: half at 20, half at 60 HU
    a = build_report(labels, input_path="x", models=[], seconds={},
                     ct=labels.with_array(hu))["lesions"][0]
    assert a["mean_hu"] == 40.0 and a["hu_sd"] == 20.0 and a["hu_p10_p90"] == [20.0, 60.0]


def test_a_lesion_with_no_liver_around_it_gets_no_contrast():
    array = np.zeros((6, 12, 12), np.uint8)
    array[1:5, 2:10, 2:10] = 2  # all tumour, no liver voxel
    labels = Volume(array, spacing=(1.0, 1.0, 1.0))
    lesion = build_report(labels, input_path="x", models=[], seconds={},
                          ct=labels.with_array(np.full(array.shape, 50.0)))["lesions"][0]
    assert lesion["mean_hu"] == 50.0
    assert lesion["contrast_hu"] is None and lesion["density"] is None


def test_a_one_voxel_lesion_spans_one_pixel_not_zero_mm():
    array = np.zeros((5, 9, 9), np.uint8)
    array[1:4, 1:8, 1:8] = 1
    array[2, 4, 4] = 2
    labels = Volume(array, spacing=(0.7, 0.8, 2.0))
    lesion = build_report(labels, input_path="x", models=[], seconds={})["lesions"][0]
    assert lesion["longest_axial_diameter_mm"] == 0.7  # the smaller in-plane pixel side


@pytest.mark.parametrize("direction", [(1, 0, 0, 0, 1, 0, 0, 0, 1),
                                       (-1, 0, 0, 0, -1, 0, 0, 0, -1)])
def test_the_lesion_map_marks_each_lesion_by_its_id_on_the_files_grid(direction):
    from livseg.report import find_lesions

    labels = _labels(direction)
    lesions, lesion_map = find_lesions(labels)
    assert lesion_map.shape == labels.shape and lesion_map.dtype == np.uint8
    tumour = labels.array == 2
    assert np.array_equal(lesion_map > 0, tumour)
    voxel_ml = float(np.prod(labels.spacing)) / 1000
    for lesion in lesions:  # each id's voxels are that lesion, on the file's own slices
        ids = lesion_map == lesion["id"]
        assert ids.sum() * voxel_ml == pytest.approx(lesion["volume_ml"], abs=1e-4)
        z = np.flatnonzero(ids.any(axis=(1, 2)))
        assert [int(z[0]), int(z[-1])] == lesion["slices"]
    empty = labels.with_array(np.minimum(labels.array, 1))
    assert find_lesions(empty)[0] == [] and not find_lesions(empty)[1].any()
