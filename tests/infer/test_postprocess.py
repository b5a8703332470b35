"""Clean-up steps on masks whose answer is known by hand; sizes in mm³, not voxels."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from livseg.infer import postprocess


def test_largest_component_drops_smaller_pieces_and_keeps_diagonal_neighbours():
    mask = np.zeros((5, 12, 12), bool)
    mask[1:4, 1:6, 1:6] = True  # 75 voxels
    mask[4, 6, 6] = True  # touches the big block only at a corner: 26-connected
    mask[1:3, 9:11, 9:11] = True  # 8 voxels, separate
    kept = postprocess.largest_component(mask)
    assert kept.sum() == 76 and not kept[1:3, 9:11, 9:11].any()
    assert not postprocess.largest_component(np.zeros((3, 3, 3), bool)).any()


def test_fill_holes_closes_a_vessel_open_at_the_top():
    mask = np.zeros((6, 10, 10), bool)
    mask[1:5, 2:8, 2:8] = True
    mask[1:5, 4:6, 4:6] = False  # a channel through all slices: no 3D hole, 2D holes
    mask[2, 3, 3] = False  # and an enclosed hole
    filled = postprocess.fill_holes(mask)
    assert filled[1:5, 2:8, 2:8].all() and filled.sum() == 4 * 36
    assert mask[1:5, 4:6, 4:6].sum() == 0  # the input was not changed


def test_clean_liver_equals_component_then_fill():
    rng = np.random.default_rng(1)
    mask = rng.random((8, 30, 30)) > 0.35
    expected = postprocess.fill_holes(postprocess.largest_component(mask))
    assert np.array_equal(postprocess.clean_liver(mask), expected)


def test_tumour_size_threshold_is_in_cubic_millimetres():
    tumour = np.zeros((10, 20, 20), bool)
    tumour[2:4, 2:4, 2:4] = True  # 8 voxels
    tumour[5:9, 10:14, 10:14] = True  # 64 voxels
    liver = np.ones_like(tumour)
    fine = postprocess.clean_tumours(tumour, liver, (1.0, 1.0, 1.0), min_lesion_mm3=20)
    coarse = postprocess.clean_tumours(tumour, liver, (3.0, 1.0, 1.0), min_lesion_mm3=20)
    assert fine.sum() == 64  # 8 mm3 < 20 mm3: dropped
    assert coarse.sum() == 72  # the same 8 voxels are 24 mm3 at 3 mm slices: kept


def test_lesions_mostly_near_the_liver_are_kept_whole_the_others_dropped():
    """Rows of 1 mm beside a liver that ends at row 14: row 15 lies 1 mm from it, row 16
    2 mm; each lesion counts its voxels near the liver and is kept or dropped whole."""
    liver = np.zeros((5, 30, 30), bool)
    liver[:, 5:15, 5:15] = True
    tumour = np.zeros_like(liver)
    tumour[:, 13:17, 6:8] = True  # rows 13-16: 2 inside, 1 more within 1 mm, 1 within 2 mm
    tumour[:, 14:22, 11:13] = True  # rows 14-21: 1 inside, 2 more within 2 mm (3 of 8)
    tumour[:, 25:28, 25:28] = True  # far outside
    spacing = (2.0, 1.0, 1.0)
    kept = postprocess.clean_tumours(tumour, liver, spacing, liver_margin_mm=2.0,
                                     min_lesion_mm3=0)
    assert kept[:, 13:17, 6:8].all() and kept.sum() == 5 * 4 * 2  # only the first, whole
    tight = postprocess.clean_tumours(tumour, liver, spacing, liver_margin_mm=1.0,
                                      min_lesion_mm3=0)  # 3 of 4 rows near: still whole
    assert tight[:, 16, 6:8].all() and tight.sum() == 5 * 4 * 2
    loose = postprocess.clean_tumours(tumour, liver, spacing, liver_margin_mm=2.0,
                                      min_lesion_mm3=0, min_share_near_liver=0.25)
    assert loose[:, 14:22, 11:13].all() and not loose[:, 25:28, 25:28].any()
    half = postprocess.clean_tumours(tumour, liver, spacing, liver_margin_mm=1.0,
                                     min_lesion_mm3=0, min_share_near_liver=0.8)
    assert not half.any()  # 3 of 4 rows is less than 0.8


def test_label_map_gives_tumour_precedence():
    liver = np.array([[[True, True, False]]])
    tumour = np.array([[[False, True, True]]])
    assert postprocess.label_map(liver, tumour).tolist() == [[[1, 2, 2]]]


@pytest.mark.parametrize("seed", range(4))
def test_within_mm_equals_a_euclidean_distance_transform(seed):
    rng = np.random.default_rng(seed)
    mask = ndimage.binary_opening(rng.random((12, 40, 36)) > 0.6, iterations=1)
    points = rng.random(mask.shape) > 0.7
    spacing = (2.5, 0.8, 0.9)
    for radius in (0.5, 1.1, 2.9, 4.3):  # not at exact lattice distances (rounding ties)
        expected = points & (ndimage.distance_transform_edt(~mask, sampling=spacing) <= radius)
        got = postprocess.within_mm(points, mask, spacing, radius)
        assert (got == expected).all()
    assert not postprocess.within_mm(points, np.zeros_like(mask), spacing, 3.0).any()


@pytest.mark.parametrize("seed", range(4))
def test_fill_holes_equals_scipy_in_3d_then_per_slice(seed):
    rng = np.random.default_rng(seed)
    mask = ndimage.binary_closing(rng.random((9, 30, 33)) > 0.45)
    expected = ndimage.binary_fill_holes(mask)
    for z in range(len(expected)):
        expected[z] = ndimage.binary_fill_holes(expected[z])
    assert (postprocess.fill_holes(mask) == expected).all()
    assert not postprocess.fill_holes(np.zeros((3, 4, 5), bool)).any()


def test_fill_holes_fills_a_closed_cavity_and_a_channel_open_at_the_top():
    mask = np.zeros((20, 30, 30), bool)
    mask[2:18, 5:25, 5:25] = True
    mask[5:15, 10:20, 10:20] = False  # a cavity closed in 3D
    mask[0:10, 14:16, 14:16] = False  # a channel from the top face into it
    mask[12:14, 3:8, 6:9] = False  # a notch open to the side: not a hole
    filled = postprocess.fill_holes(mask)
    assert filled[5:15, 10:20, 10:20].all() and filled[2:10, 14:16, 14:16].all()
    assert not filled[12:14, 5:8, 6:9].any() and not filled[:2].any()


def test_component_labels_are_as_narrow_as_they_can_be_and_exact():
    structure = ndimage.generate_binary_structure(3, 1)
    few = np.zeros((2, 20, 20), bool)
    few[:, ::4, ::4] = True
    labels, count = postprocess.component_labels(few, structure)
    assert labels.dtype == np.uint8 and count == 25
    reference, _ = ndimage.label(few, structure)
    assert np.array_equal(labels, reference)
    some = np.zeros((2, 80, 80), bool)
    some[:, ::4, ::4] = True  # 400 components: past 8 bits
    labels, count = postprocess.component_labels(some, structure)
    assert labels.dtype == np.uint16 and count == 400 and labels.max() == 400
    many = np.zeros((1, 600, 600), bool)
    many[:, ::2, ::2] = True  # 90,000 single-voxel components: past 16 bits
    labels, count = postprocess.component_labels(many, structure)
    assert count == 90_000 and labels.max() == 90_000


def test_cut_bridges_drops_what_a_thin_bridge_joined_and_keeps_the_bodys_corners():
    mask = np.zeros((20, 40, 60), bool)
    mask[4:16, 5:25, 5:25] = True  # the body: 12 x 20 x 20 mm
    mask[9:11, 14:16, 25:35] = True  # a 2 x 2 mm bridge, 10 mm long
    mask[4:16, 5:25, 35:45] = True  # what it joins: 12 x 20 x 10 mm
    cut = postprocess.cut_bridges(mask, (1.0, 1.0, 1.0), radius_mm=3.0)
    assert cut[:, :, :25].sum() == mask[:, :, :25].sum()  # body whole, corners included
    assert not cut[:, :, 33:].any()  # the far piece gone
    assert np.array_equal(postprocess.cut_bridges(mask, (1.0, 1.0, 1.0), 0.0), mask)
    thin = np.zeros((5, 5, 5), bool)
    thin[2, 1:4, 1:4] = True  # thinner than the ball: returned as it is
    assert np.array_equal(postprocess.cut_bridges(thin, (1.0, 1.0, 1.0), 3.0), thin)


def test_lesion_rules_drop_faint_and_bright_candidates_only():
    shape = (12, 40, 40)
    liver = np.zeros(shape, bool)
    liver[1:11, 2:38, 2:38] = True
    hu = np.where(liver, 100.0, -1000.0)
    tumour = np.zeros(shape, bool)
    probability = np.zeros(shape, np.uint8)
    for (y, x), (p, lesion_hu) in {(8, 8): (0.95, 40.0),  # dark and sure: a tumour
                                   (8, 28): (0.55, 40.0),  # dark but faint
                                   (28, 18): (0.95, 160.0)}.items():  # brighter than liver
        tumour[4:8, y:y + 4, x:x + 4] = True
        probability[4:8, y:y + 4, x:x + 4] = round(p * 255)
        hu[4:8, y:y + 4, x:x + 4] = lesion_hu
    candidates = postprocess.lesion_candidates(tumour, probability, hu, liver, (1.0, 1.0, 1.0))
    assert len(candidates) == 3
    assert sorted(round(c.mean_probability, 2) for c in candidates) == [0.55, 0.95, 0.95]
    assert sorted(c.contrast_hu for c in candidates) == [-60.0, -60.0, 60.0]
    assert all(c.volume_mm3 == 64.0 for c in candidates)
    kept = postprocess.keep_lesions(shape, candidates, min_mean_probability=0.7,
                                    max_contrast_hu=0.0)
    assert kept[5, 9, 9] and not kept[5, 9, 29] and not kept[5, 29, 19]
    assert kept.sum() == 64
    assert postprocess.keep_lesions(shape, candidates).sum() == 3 * 64


def test_lesion_candidates_without_the_ct_measure_no_contrast():
    tumour = np.zeros((6, 12, 12), bool)
    tumour[2:4, 3:6, 3:6] = True
    probability = np.where(tumour, 230, 0).astype(np.uint8)
    (candidate,) = postprocess.lesion_candidates(tumour, probability, None, tumour | True,
                                                 (1.0, 1.0, 1.0))
    assert candidate.contrast_hu is None and candidate.volume_mm3 == 18.0
    assert candidate.mean_probability == pytest.approx(230 / 255)


def test_grown_lesions_reach_their_faint_rim_and_no_faint_region_of_their_own():
    """Hysteresis: a kept lesion grows over the connected voxels above the low threshold
    (a diagonal neighbour counts); a faint region with no kept lesion in it stays out,
    and so does a sure lesion the rules dropped (it is not in ``kept``)."""
    probability = np.zeros((5, 20, 20), np.uint8)
    probability[1:4, 2:9, 2:9] = 110  # faint rim (0.43)
    probability[2, 4:7, 4:7] = 230  # sure core (0.9)
    probability[3, 9, 9] = 110  # touches the rim only diagonally
    probability[1:4, 12:18, 12:18] = 110  # faint, alone
    probability[2, 14, 14] = 230  # a sure voxel the rules dropped
    kept = probability > 255 * 0.6
    kept[2, 14, 14] = False
    before = kept.copy()
    grown = postprocess.grow_lesions(kept, probability, 0.4)
    np.testing.assert_array_equal(kept, before)  # input untouched
    expected = np.zeros_like(kept)
    expected[1:4, 2:9, 2:9] = True
    expected[3, 9, 9] = True
    np.testing.assert_array_equal(grown, expected)
    np.testing.assert_array_equal(postprocess.grow_lesions(kept, probability, 0.5), kept)
    assert not postprocess.grow_lesions(np.zeros_like(kept), probability, 0.4).any()


def test_label_sizes_counted_in_slabs_equal_one_bincount():
    rng = np.random.default_rng(3)
    mask = rng.random((75, 9, 11)) > 0.6  # more slices than one slab of FILL_SLICES
    labels, count = postprocess.component_labels(mask, np.ones((3, 3, 3), bool))
    np.testing.assert_array_equal(postprocess.label_sizes(labels, count),
                                  np.bincount(labels.ravel(), minlength=count + 1))
