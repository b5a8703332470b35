"""The cascade on volumes whose answer is known: geometry, ROI, resizing and clean-up."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from livseg.errors import LivsegInputError
from livseg.infer import Cascade, CascadeSettings
from livseg.io import Volume
from livseg.metrics.overlap import Confusion, overlap_scores

from .threshold_stages import BACKGROUND_HU, LIVER_HU, TUMOUR_HU, block_volume, threshold_stage

#: The cascade's geometry alone: every voxel above the threshold stage's 0.5 is tumour (no
#: lesion rule, no growth over the resampled edges)
GEOMETRY_ONLY = CascadeSettings(tumour_threshold=0.5, min_lesion_probability=0.0,
                                grow_threshold=None, max_lesion_contrast_hu=None)

DIRECTIONS = {
    "identity": (1, 0, 0, 0, 1, 0, 0, 0, 1),
    "ras-like": (-1, 0, 0, 0, -1, 0, 0, 0, 1),
    "permuted-flipped": (0, 0, -1, -1, 0, 0, 0, 1, 0),
    # 20 degrees about the patient's z axis, then permuted: the cascade works on the nearest
    # axes and writes the labels back on the oblique grid itself
    "oblique": (0.0, -0.3420201, 0.9396926, 0.0, 0.9396926, 0.3420201, -1.0, 0.0, 0.0),
}


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return overlap_scores(Confusion.of(a, b))["dice"]


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTIONS.keys())
@pytest.mark.parametrize("pixel_mm", [None, 1.7])
def test_cascade_finds_the_blocks_on_the_input_grid(direction, pixel_mm):
    volume, expected = block_volume(direction)
    cascade = Cascade(threshold_stage("liver"), threshold_stage("tumour", pixel_mm),
                      GEOMETRY_ONLY)
    result = cascade.segment(volume)
    assert result.labels.same_grid(volume) and result.labels.array.dtype == np.uint8
    assert _dice(result.labels.array >= 1, expected >= 1) > 0.97
    assert _dice(result.labels.array == 2, expected == 2) > 0.9
    assert set(result.seconds) == {"liver_stage", "liver_postprocess", "tumour_stage",
                                   "tumour_postprocess"}


def test_flip_tta_keeps_a_symmetric_answer():
    volume, expected = block_volume()
    plain = Cascade(threshold_stage("liver"), threshold_stage("tumour"),
                    CascadeSettings(tta=False)).segment(volume)
    tta = Cascade(threshold_stage("liver"), threshold_stage("tumour")).segment(volume)  # default
    assert _dice(tta.labels.array == 2, plain.labels.array == 2) > 0.95


def test_clean_up_keeps_one_liver_and_tumours_inside_it():
    volume, expected = block_volume()
    array = volume.array.copy()
    array[20:22, 2:5, 2:5] = 200  # a bright speck away from the liver: not the liver
    array[0:2, 36:40, 30:35] = 60  # a dark speck outside the liver: no tumour
    result = Cascade(threshold_stage("liver"), threshold_stage("tumour")).segment(
        volume.with_array(array))
    assert result.labels.array[20:22, 2:5, 2:5].max() == 0
    assert result.labels.array[0:2, 36:40, 30:35].max() == 0
    assert _dice(result.labels.array >= 1, expected >= 1) > 0.97


def test_a_volume_without_liver_gives_an_empty_map():
    volume, _ = block_volume()
    empty = volume.with_array(np.full(volume.shape, -100, np.int16))
    result = Cascade(threshold_stage("liver"), threshold_stage("tumour")).segment(empty)
    assert result.labels.array.max() == 0 and result.roi is None


@pytest.mark.parametrize("slices", [1, 2])
def test_one_and_two_slice_volumes(slices):
    volume, expected = block_volume(DIRECTIONS["identity"])
    thin = Volume(volume.array[10:10 + slices].copy(), volume.spacing, volume.origin,
                  volume.direction)
    result = Cascade(threshold_stage("liver"), threshold_stage("tumour")).segment(thin)
    assert result.labels.shape == thin.shape
    assert _dice(result.labels.array >= 1, expected[10:10 + slices] >= 1) > 0.95
    assert _dice(result.labels.array == 2, expected[10:10 + slices] == 2) > 0.9


def test_thick_slices():
    volume, expected = block_volume(DIRECTIONS["ras-like"], spacing=(0.8, 1.1, 8.0))
    result = Cascade(threshold_stage("liver"), threshold_stage("tumour", 1.7),
                     GEOMETRY_ONLY).segment(volume)
    assert _dice(result.labels.array >= 1, expected >= 1) > 0.95
    assert _dice(result.labels.array == 2, expected == 2) > 0.9


def test_a_liver_touching_every_border_of_the_volume():
    volume, _ = block_volume(DIRECTIONS["identity"])
    array = np.full(volume.shape, LIVER_HU, np.int16)  # the liver fills the whole volume
    array[8:14, 12:21, 13:20] = TUMOUR_HU
    result = Cascade(threshold_stage("liver"), threshold_stage("tumour", 1.7),
                     GEOMETRY_ONLY).segment(volume.with_array(array))
    assert (result.labels.array >= 1).mean() > 0.99
    assert result.roi is not None and result.roi.start == (0, 0, 0)
    assert result.roi.stop == volume.shape
    assert _dice(result.labels.array == 2, array == TUMOUR_HU) > 0.9


@pytest.mark.parametrize("recipe, passes", [({}, 2), ({"flip_probability": 0.5}, 2),
                                            ({"flip_probability": 0.0}, 1),
                                            ({"augment": False}, 1)])
def test_tta_flips_only_as_the_network_was_trained(recipe, passes):
    stage = threshold_stage("liver")
    stage.description["training"] = {"recipe": recipe}
    calls = []
    forward = stage.runner.logits
    stage.runner.logits = lambda batch: calls.append(batch.shape) or forward(batch)
    slices = np.random.default_rng(0).uniform(-100, 300, (4, 16, 20)).astype(np.float32)
    with_tta = stage.probability(slices, batch_size=4, tta=True)
    assert len(calls) == passes
    np.testing.assert_allclose(with_tta, stage.probability(slices, tta=False), atol=1e-6)


def test_the_flipped_pass_runs_only_on_slices_the_first_pass_is_unsure_of():
    """``tta_above``: a slice whose first pass stays at or below it everywhere (background
    only: about 0.007) keeps that pass; the others (a "tumour" at 60 HU in them) get the
    left-right flip as well, and only they are given to the network again."""
    stage = threshold_stage("tumour")
    calls = []
    forward = stage.runner.logits
    stage.runner.logits = lambda batch: calls.append(batch.copy()) or forward(batch)
    slices = np.full((4, 16, 20), BACKGROUND_HU, np.float32)
    slices[2:, 4:9, 3:12] = TUMOUR_HU
    selective = stage.probability(slices, batch_size=4, tta=True, tta_above=0.05)
    assert [len(c) for c in calls] == [4, 2]
    np.testing.assert_array_equal(calls[1], calls[0][2:, ..., ::-1])  # slices 2, 3 flipped
    np.testing.assert_allclose(selective, stage.probability(slices, tta=True), atol=1e-6)
    calls.clear()
    stage.probability(slices, batch_size=4, tta=True, tta_above=None)
    assert [len(c) for c in calls] == [4, 4]


@pytest.fixture(scope="module")
def straight_phantom():
    """A phantom, the shipped cascade, and that cascade's liver Dice on it unflipped."""
    from livseg.phantom import make_phantom

    phantom = make_phantom(shape=(24, 96, 96), spacing=(3.5, 3.5, 6.0), n_tumours=1, seed=1)
    cascade = Cascade.shipped()
    straight = cascade.segment(phantom.ct).labels.array >= 1
    return phantom, cascade, overlap_scores(Confusion.of(straight,
                                                         phantom.labels.array >= 1))["dice"]


@pytest.mark.parametrize("flips", [(1,), (2,), (1, 2)], ids=["upside-down", "mirrored",
                                                               "both"])
def test_an_image_its_header_misdescribes_is_segmented_the_right_way_round(flips,
                                                                           straight_phantom):
    """A phantom whose array is flipped while its header stays the identity: the shipped
    liver stage, run the way the header says, does worse than when the cascade notices
    the spine in front or the liver on the left and runs it the right way round."""
    from livseg.infer.postprocess import clean_liver

    phantom, cascade, dice_straight = straight_phantom
    axes = tuple(a for a in flips)  # canonical (z, y, x) = array order for the identity
    ct = phantom.ct.with_array(np.ascontiguousarray(np.flip(phantom.ct.array, axes)))
    truth = np.flip(phantom.labels.array, axes) >= 1
    result = cascade.segment(ct)
    liver = result.labels.array >= 1
    dice = overlap_scores(Confusion.of(liver, truth))["dice"]
    trusting = clean_liver(cascade.liver_mask(ct.array, slice_mm=ct.spacing_zyx[0]))
    dice_trusting = overlap_scores(Confusion.of(trusting, truth))["dice"]
    # the phantom is nearly symmetric front to back, so turning it round gains little there
    # (lits117_crop, a real upside-down CT, goes from 0.355 to 0.947); mirrored, it gains much
    gain = 0.02 if 2 in flips else -0.01
    assert dice > dice_trusting + gain and dice > dice_straight - 0.03, (dice, dice_trusting)
    words = {1: "upside down", 2: "mirrored"}
    assert all(any(words[a] in note for note in result.notes) for a in flips), result.notes


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_a_2_5d_stage_sees_its_neighbours_in_mm_across_batch_edges(batch_size):
    """A stage that looks only at its input slice +10 mm (the last of 5 slices 5 mm apart)
    marks, on 2.5 mm slices, each slice whose 4th slice up holds liver: at every batch
    edge, and with the last slice repeated beyond the volume's end."""
    _, expected = block_volume(direction=DIRECTIONS["identity"])
    hu = np.where(expected >= 1, LIVER_HU, -100.0).astype(np.float32)
    stage = threshold_stage("liver", in_channels=5, context_mm=5.0, channel=4)
    cascade = Cascade(stage, None, CascadeSettings(batch_size=batch_size,
                                                   liver_smoothing_mm=0))
    found = cascade.liver_mask(hu, slice_mm=2.5)
    shifted = expected[np.minimum(np.arange(len(expected)) + 4, len(expected) - 1)] >= 1
    assert _dice(found, shifted) > 0.97
    rows_found = np.flatnonzero(found.any(axis=(1, 2)))
    assert rows_found.tolist() == np.flatnonzero(shifted.any(axis=(1, 2))).tolist()
    # on 1.25 mm slices the same 10 mm is 8 slices
    thin = cascade.liver_mask(hu, slice_mm=1.25)
    assert rows_found[-1] == 18 - 4
    assert np.flatnonzero(thin.any(axis=(1, 2)))[-1] == 18 - 8


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_the_network_runs_once_per_slice_and_not_on_the_neighbours_it_is_given(batch_size):
    """A 2.5D stage gets the slices its inputs reach beyond each batch, as context only:
    the network sees each slice of the box once, and the answer is the one of a single
    batch holding the whole box."""
    _, expected = block_volume(direction=DIRECTIONS["identity"])
    hu = np.where(expected == 2, TUMOUR_HU, np.where(expected == 1, LIVER_HU, -100.0))
    stage = threshold_stage("tumour", in_channels=5, context_mm=5.0, channel=4)
    seen = []
    logits = stage.runner.logits
    stage.runner.logits = lambda batch: seen.append(len(batch)) or logits(batch)
    cascade = Cascade(stage, stage, CascadeSettings(batch_size=batch_size, tta=False))
    probability = cascade.tumour_probability(hu.astype(np.float32), (2.5, 1.0, 1.0))
    assert sum(seen) == len(hu)
    whole = Cascade(stage, stage, CascadeSettings(batch_size=len(hu), tta=False))
    np.testing.assert_array_equal(probability,
                                  whole.tumour_probability(hu.astype(np.float32),
                                                           (2.5, 1.0, 1.0)))
    shifted = expected[np.minimum(np.arange(len(expected)) + 4, len(expected) - 1)] == 2
    assert _dice(probability > 127, shifted) > 0.97


def test_a_liver_anchored_tumour_stage_finds_the_same_tumour_in_a_brighter_phase():
    """The whole abdomen 40 HU brighter (another contrast phase): a stage anchored to the
    liver's median HU sees the same slices and answers the same; one that is not misses
    the tumour, now above its 100 HU."""
    _, expected = block_volume(direction=DIRECTIONS["identity"])
    hu = np.where(expected == 2, TUMOUR_HU, np.where(expected == 1, LIVER_HU, -100.0))
    liver, spacing = expected >= 1, (2.5, 1.0, 1.0)
    settings = CascadeSettings(tta=False)
    anchored = threshold_stage("tumour", liver_anchor_hu=LIVER_HU)
    cascade = Cascade(anchored, anchored, settings)
    first = cascade.tumour_probability(hu.astype(np.float32), spacing, roi_liver=liver)
    brighter = cascade.tumour_probability((hu + 60).astype(np.float32), spacing,
                                          roi_liver=liver)
    np.testing.assert_array_equal(first, brighter)
    assert _dice(first > 127, expected == 2) > 0.97
    plain = Cascade(threshold_stage("tumour"), threshold_stage("tumour"), settings)
    assert (plain.tumour_probability((hu + 60).astype(np.float32), spacing) > 127).sum() == 0
    with pytest.raises(ValueError, match="anchored to the liver's HU"):
        cascade.tumour_probability(hu.astype(np.float32), spacing)


def test_liver_smoothing_is_a_distance_in_mm_whatever_the_slice_spacing():
    from livseg.infer.cascade import smoothing_slices

    assert smoothing_slices(8.0, 1.6) == 5 and smoothing_slices(8.0, 0.7) == 11
    assert smoothing_slices(8.0, 2.0) == 5 and smoothing_slices(8.0, 5.0) == 3
    assert smoothing_slices(8.0, 10.0) == 1 and smoothing_slices(0.0, 1.0) == 1
    assert smoothing_slices(8.0, None) == 3


def test_the_predict_options_default_to_the_cascade_settings():
    """The parser does not import the cascade; its help must say the cascade's defaults."""
    from livseg.cli import build_parser

    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["predict"]
                         .format_help().split())
    settings = CascadeSettings()
    assert f"default {settings.min_lesion_mm3:g})" in help_text
    assert f"default {settings.tumour_threshold:g})" in help_text
    assert f"default {settings.min_lesion_probability:g})" in help_text
    parser = build_parser()
    assert parser.parse_args(["predict", "ct.nii.gz", "-o", "out"]).tta is settings.tta is True
    assert parser.parse_args(["predict", "ct.nii.gz", "-o", "out", "--no-tta"]).tta is False
    assert f"{settings.tumour_canvas} (the flipped pass" in help_text
    from livseg.cli.inference import CANVAS_MODES as PARSER_CANVAS_MODES
    from livseg.infer.stage import CANVAS_MODES
    assert PARSER_CANVAS_MODES == CANVAS_MODES


@pytest.mark.parametrize("rule, kept", [
    ("keep", "grown"), ("seed", "seed"), ("drop", "nothing")])
def test_a_lesion_grown_away_from_the_liver_is_handled_as_the_settings_say(rule, kept):
    """A sure seed inside the liver whose faint region (above the growth threshold) runs
    out over an organ beside it: grown, most of it lies away from the liver. A lesion
    whose rim stays in the liver grows whatever the rule."""
    liver = np.zeros((6, 40, 40), bool)
    liver[:, 2:20, 2:38] = True
    probability = np.zeros(liver.shape, np.uint8)
    probability[1:5, 14:36, 4:10] = 100  # faint: reaches 16 voxels beyond the liver
    probability[2:4, 15:19, 5:9] = 240  # the sure seed, inside the liver
    probability[1:5, 4:10, 24:32] = 100  # a second lesion's rim, all in the liver
    probability[2:4, 5:9, 26:30] = 240
    settings = CascadeSettings(tumour_threshold=0.6, grow_threshold=0.3, min_lesion_mm3=1,
                               min_lesion_probability=0.0, max_lesion_contrast_hu=None,
                               grown_away_from_liver=rule)
    tumour = Cascade(None, None, settings).lesions(probability, np.zeros(liver.shape),
                                                   liver, (1.0, 1.0, 1.0))
    away = np.zeros(liver.shape, bool)
    away[1:5, 14:36, 4:10] = True
    seed = probability == 240
    inside = np.zeros(liver.shape, bool)
    inside[1:5, 4:10, 24:32] = True
    np.testing.assert_array_equal(tumour[:, :, 20:], inside[:, :, 20:])
    expected = {"grown": away, "seed": seed & away, "nothing": np.zeros_like(away)}[kept]
    np.testing.assert_array_equal(tumour[:, :, :20], expected[:, :, :20])


def test_an_unknown_rule_for_lesions_grown_away_from_the_liver_is_refused():
    with pytest.raises(LivsegInputError, match="grown_away_from_liver"):
        CascadeSettings(grown_away_from_liver="shrink")


@pytest.mark.parametrize("canvas, sizes", [
    ("none", ["box", "box flipped"]), ("all", ["canvas", "canvas flipped"]),
    ("flipped", ["box", "canvas flipped"]),
    ("both", ["box", "canvas", "box flipped", "canvas flipped"])])
def test_the_tumour_canvas_centres_the_box_on_the_training_size_and_crops_back(canvas, sizes):
    """``tumour_canvas`` says which passes see the box centred on the network's training
    size (64x64 here), the surround at the window's low end; every pass's answer comes back
    on the box itself, voxel for voxel where the "network" looks at each pixel alone."""
    _, expected = block_volume(direction=DIRECTIONS["identity"])
    hu = np.where(expected == 2, TUMOUR_HU, np.where(expected == 1, LIVER_HU, -100.0))
    hu = hu.astype(np.float32)
    stage = threshold_stage("tumour")
    seen = []
    logits = stage.runner.logits
    stage.runner.logits = lambda batch: seen.append(batch.copy()) or logits(batch)
    settings = CascadeSettings(batch_size=len(hu), tta_uncertain_above=None)
    box_alone = Cascade(stage, stage, settings).tumour_probability(hu, (2.5, 1.0, 1.0))
    seen.clear()
    placed = Cascade(stage, stage, replace(settings, tumour_canvas=canvas))
    probability = placed.tumour_probability(hu, (2.5, 1.0, 1.0))
    shapes = {"box": hu.shape[1:], "canvas": (64, 64)}
    assert [b.shape[-2:] for b in seen] == [shapes[size.split()[0]] for size in sizes]
    np.testing.assert_array_equal(probability, box_alone)
    for batch, size in zip(seen, sizes, strict=True):
        if not size.startswith("canvas"):
            continue
        rows, cols = (64 - hu.shape[1]) // 2, (64 - hu.shape[2]) // 2  # 11 and 13
        first = (np.flip(batch, -1) if size.endswith("flipped") else batch)[:, 0].copy()
        np.testing.assert_allclose(first[:, rows:rows + hu.shape[1], cols:cols + hu.shape[2]],
                                   np.clip(hu / 255.0, 0, 1), atol=1e-6)
        first[:, rows:rows + hu.shape[1], cols:cols + hu.shape[2]] = 0
        assert not first.any()  # 0 HU, the window's low end


def test_an_unknown_tumour_canvas_is_refused():
    with pytest.raises(LivsegInputError, match="tumour_canvas must be one of"):
        CascadeSettings(tumour_canvas="sometimes")


@pytest.mark.parametrize("check, grown", [(True, False), (False, True)])
def test_a_lesion_grown_into_liver_as_bright_as_its_own_keeps_only_its_seed(check, grown):
    """A dark sure seed (40 HU in a 100 HU liver) passes the contrast rule; its faint
    region covers liver at 100 HU, so that grown the lesion is only a few HU darker than its
    liver. Checked again after growth, it keeps its seed; unchecked, it keeps its growth.
    A second lesion, dark all through, grows either way."""
    liver = np.zeros((8, 48, 48), bool)
    liver[:, 2:46, 2:46] = True
    hu = np.where(liver, 100.0, -100.0)
    probability = np.zeros(liver.shape, np.uint8)
    probability[1:7, 5:25, 5:25] = 100  # the faint region, mostly plain liver
    probability[3:5, 8:11, 8:11] = 240  # the sure seed
    hu[3:5, 8:11, 8:11] = 40.0
    probability[2:6, 30:40, 30:40] = 100  # the second lesion's rim ...
    probability[3:5, 33:37, 33:37] = 240  # ... and its core, both dark
    hu[2:6, 30:40, 30:40] = 40.0
    settings = CascadeSettings(tumour_threshold=0.6, grow_threshold=0.3, min_lesion_mm3=1,
                               min_lesion_probability=0.0, max_lesion_contrast_hu=-15.0,
                               contrast_after_growth=check)
    tumour = Cascade(None, None, settings).lesions(probability, hu, liver, (1.0, 1.0, 1.0))
    faint = np.zeros(liver.shape, bool)
    faint[1:7, 5:25, 5:25] = True
    seed = probability == 240
    expected = faint if grown else seed & faint
    np.testing.assert_array_equal(tumour[:, :28, :28], expected[:, :28, :28])
    rim = np.zeros(liver.shape, bool)
    rim[2:6, 30:40, 30:40] = True
    np.testing.assert_array_equal(tumour[:, 28:, 28:], rim[:, 28:, 28:])
