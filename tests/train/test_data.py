from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from livseg.errors import LivsegInputError
from livseg.train.augment import (
    AugmentConfig,
    augment_batch,
    elastic_displacement,
    intensity_augment,
    spatial_augment,
)
from livseg.train.losses import DiceCrossEntropyLoss
from livseg.train.slices import SliceSet, split_by_volume
from livseg.train.sources import load_data, read_slice_folder, volume_slices
from tests.conftest import shared_file


def _slice_set(volumes=("1", "1", "1", "2", "2", "3"), numbers=(4, 5, 7, 1, 2, 9)):
    n = len(volumes)
    images = np.arange(n, dtype=np.float16)[:, None, None] * np.ones((n, 4, 4), np.float16)
    return SliceSet(images, np.zeros((n, 4, 4), np.uint8), np.array(volumes),
                    np.array(numbers), (0.0, 255.0))


def test_split_is_by_volume_never_by_slice():
    ids = np.repeat([f"v{i}" for i in range(10)], 7)
    train, val = split_by_volume(ids, 0.2, seed=3)
    assert not set(ids[train]) & set(ids[val])
    assert len(set(ids[val])) == 2 and train.sum() + val.sum() == len(ids)
    again, _ = split_by_volume(ids, 0.2, seed=3)
    np.testing.assert_array_equal(train, again)
    with pytest.raises(LivsegInputError, match="at least 2"):
        split_by_volume(np.array(["a", "a"]), 0.2, 0)


def test_neighbours_stay_in_their_volume_and_are_interpolated_across_gaps():
    index = _slice_set().context(3)
    # volume 1 holds slices 4, 5, 7: slice 5's upper neighbour, the missing 6, lies half-way
    # between rows 1 and 2; slice 4's lower neighbour is beyond the volume: slice 4 itself
    assert index.lower[1].tolist() == [0, 1, 1] and index.upper[1].tolist() == [0, 1, 2]
    assert index.weight[1].tolist() == [0.0, 0.0, 0.5]
    assert index.lower[0].tolist() == [0, 0, 1]
    assert index.lower[3].tolist() == [3, 3, 4]  # volume 2 starts at slice 1
    assert index.lower[5].tolist() == [5, 5, 5]
    stacked = index.stack(_slice_set().images.astype(np.float32))[:, :, 0, 0]
    assert stacked[1].tolist() == [0.0, 1.0, 1.5]


def test_neighbours_in_mm_use_the_positions_of_the_slices(tmp_path):
    base = _slice_set()
    data = SliceSet(base.images, base.labels, base.volume_ids, base.slice_numbers, base.window,
                    slice_mm=base.slice_numbers * 2.0)  # 2 mm slices: 8, 10, 14 mm in volume 1
    index = data.context(3, step_mm=3.0)
    stacked = index.stack(data.images.astype(np.float32))[:, :, 0, 0]
    # row 1 (10 mm) sees 7 mm (before the first slice: row 0) and 13 mm (3/4 of the way to
    # row 2, at 14 mm)
    np.testing.assert_allclose(stacked[1], [0.0, 1.0, 1.75])
    assert SliceSet.load(data.save(tmp_path / "c.npz")).slice_mm.tolist() == \
        data.slice_mm.tolist()


def test_cache_round_trip(tmp_path):
    original = _slice_set()
    loaded = SliceSet.load(original.save(tmp_path / "cache.npz"))
    np.testing.assert_array_equal(loaded.images, original.images)
    assert loaded.volume_ids.tolist() == original.volume_ids.tolist()
    assert loaded.window == (0.0, 255.0)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(LivsegInputError, match="not a livseg slice cache"):
        SliceSet.load(tmp_path / "bad.npz")


def test_slice_folder_declares_its_intensity_mapping(tmp_path):
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    for name, value in (("flipped_10001_50.png", 255), ("flipped_10002_60.png", 51)):
        Image.fromarray(np.full((8, 8), value, np.uint8)).save(tmp_path / "images" / name)
        mask = np.zeros((8, 8), np.uint8)
        mask[2:5, 2:5] = 255
        Image.fromarray(mask).save(tmp_path / "masks" / name)
    data = read_slice_folder(tmp_path)
    assert data.window == (0.0, 255.0) and not data.has_tumour_labels
    assert data.volume_ids.tolist() == ["10001", "10002"]
    assert data.images[1, 0, 0] == pytest.approx(0.2, abs=1e-3)  # 51 HU of [0, 255]
    assert data.labels[0].sum() == 9


def test_real_slice_folder_has_about_a_hundred_patients():
    data = load_data(str(shared_file("lits_slices_256")), stage="liver", window=(0, 255),
                     size=(256, 256))
    assert len(data) == 525 and data.size == (256, 256)
    assert 90 <= len(set(data.volume_ids.tolist())) <= 110
    assert 0.02 < data.labels.mean() < 0.2


def test_flipped_and_mirrored_slices_come_back_canonical(tmp_path):
    canonical = np.zeros((8, 8), np.uint8)
    canonical[1:3, 0:2] = 255  # top left: anterior, patient's right
    stored = {"flipped_7_1.png": np.flipud(canonical).T, "mirrored_7_2.png":
              np.fliplr(canonical).T, "7_3.png": canonical.T}  # the folder stores transposed
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
        for name, pixels in stored.items():
            Image.fromarray(np.ascontiguousarray(pixels)).save(tmp_path / sub / name)
    data = read_slice_folder(tmp_path)
    for labels in data.labels:
        np.testing.assert_array_equal(labels, canonical > 127)


def test_real_slices_are_read_in_canonical_orientation():
    """Canonical axial slices (LPS) show the liver on the image's left (the patient's right)
    and the spine below the centre (posterior), whichever variant the folder stored."""
    data = read_slice_folder(shared_file("lits_slices_256"))
    liver = data.labels >= 1
    has_liver = liver.sum(axis=(1, 2)) > 500
    index = np.arange(256)
    column = (liver * index[None, None, :]).sum(axis=(1, 2))[has_liver] / liver.sum(
        axis=(1, 2))[has_liver]
    assert np.mean(column < 128) > 0.98
    bone = data.images.astype(np.float32) > 0.98  # HU >= 250
    has_bone = bone.sum(axis=(1, 2)) > 50
    row = (bone * index[None, :, None]).sum(axis=(1, 2))[has_bone] / bone.sum(
        axis=(1, 2))[has_bone]
    assert np.mean(row > 128) > 0.85


def test_synthetic_tumours_are_inside_the_liver_and_darker_or_brighter():
    from livseg.train.synthetic_tumours import TumourRecipe, insert_tumours

    rng = np.random.default_rng(3)
    one = TumourRecipe(max_tumours=1)  # one tumour a slice: darker or brighter, not mixed
    yy, xx = np.indices((128, 128))
    liver = (yy - 64) ** 2 / 50 ** 2 + (xx - 60) ** 2 / 40 ** 2 <= 1
    hu = np.where(liver, 110.0, 20.0) + rng.normal(0, 5, liver.shape)
    darker, tries = 0, 30
    for _ in range(tries):
        out, tumour = insert_tumours(hu, liver, 1.5, rng, one)
        assert tumour.any() and not (tumour & ~liver).any()
        # not liver-like: the faintest recipe contrast is 15 HU, less the edge's blur
        assert abs(np.median(out[tumour]) - 110) >= 5
        assert np.allclose(out[~liver], hu[~liver])  # nothing painted outside the liver
        assert not np.allclose(out[tumour], hu[tumour])  # the tumour was painted
        darker += int(np.median(out[tumour]) < 110)
    assert 0.5 * tries < darker < tries  # mostly hypodense, some hyperdense
    tiny = np.zeros_like(liver)
    tiny[60:63, 60:63] = True  # too small to hold a tumour away from its edge
    out, tumour = insert_tumours(hu, tiny, 1.5, rng)
    assert not tumour.any() and np.array_equal(out, hu.astype(np.float32))


def _ellipsoid_liver(shape=(40, 96, 96), spacing=(2.5, 1.2, 1.2)):
    zz, yy, xx = np.indices(shape) * np.array(spacing)[:, None, None, None]
    centre = np.array(shape) * np.array(spacing) / 2
    return ((zz - centre[0]) / 40) ** 2 + ((yy - centre[1]) / 50) ** 2 \
        + ((xx - centre[2]) / 45) ** 2 <= 1


def test_synthetic_tumours_in_a_volume_are_3d_inside_the_liver_and_away_from_real_ones():
    from livseg.train.synthetic_tumours import TumourRecipe, insert_tumours

    spacing = (2.5, 1.2, 1.2)
    liver = _ellipsoid_liver(spacing=spacing)
    rng = np.random.default_rng(5)
    hu = np.where(liver, 110.0, 20.0) + rng.normal(0, 5, liver.shape)
    real = np.zeros_like(liver)
    real[18:22, 40:50, 40:50] = True  # a labelled tumour the copies must keep clear of
    avoid = np.zeros_like(liver)
    avoid[14:26, 30:60, 30:60] = True
    recipe = TumourRecipe(radius_mm=(8.0, 20.0))
    slices_spanned = []
    for _ in range(6):
        out, tumour = insert_tumours(hu, liver, spacing, rng, recipe, avoid=avoid)
        assert tumour.any() and not (tumour & ~liver).any() and not (tumour & avoid).any()
        assert np.allclose(out[~liver], hu[~liver])  # nothing painted outside the liver
        assert abs(np.median(out[tumour]) - 110) >= 10
        slices_spanned.append(int(tumour.any(axis=(1, 2)).sum()))
    # an ellipsoid 8-20 mm in radius at 2.5 mm slices spans several slices, not one
    assert min(slices_spanned) >= 3


def test_a_synthetic_tumour_with_a_rim_is_darkest_in_its_core():
    from livseg.train.synthetic_tumours import TumourRecipe, insert_tumours

    liver = np.zeros((160, 160), bool)
    liver[10:150, 10:150] = True
    hu = np.full(liver.shape, 110.0)
    recipe = TumourRecipe(radius_mm=(25.0, 25.0), max_tumours=1, hyperdense_probability=0.0,
                          contrast_hu=(60.0, 60.0), texture_hu=(0.1, 0.1), rim_probability=1.0,
                          rim_mm=(4.0, 4.0), rim_contrast=(0.2, 0.2), rim_min_radius_mm=10.0)
    out, tumour = insert_tumours(hu, liver, 1.0, np.random.default_rng(0), recipe)
    depth = ndimage.distance_transform_edt(tumour)
    rim, core = tumour & (depth > 1.5) & (depth <= 3), depth > 8
    assert core.any() and rim.any()
    assert np.median(out[core]) < 60 and 85 < np.median(out[rim]) < 110


def test_synthetic_copies_of_labelled_volumes_keep_the_real_tumours(tmp_path):
    from livseg.io import write_volume
    from livseg.phantom import make_phantom
    from livseg.train.sources import read_volume_pairs, synthetic_tumour_volumes

    phantom = make_phantom(shape=(24, 96, 96), spacing=(1.5, 1.5, 3.0), n_tumours=1, seed=2)
    write_volume(phantom.ct, tmp_path / "volume-0.nii.gz")
    write_volume(phantom.labels, tmp_path / "segmentation-0.nii.gz")
    options = dict(stage="tumour", window=(0.0, 160.0), size=(96, 96), pixel_mm=1.5,
                   z_margin_mm=10.0)
    pairs = [("p0", tmp_path / "volume-0.nii.gz", tmp_path / "segmentation-0.nii.gz")]
    real = read_volume_pairs(pairs, **options)
    copies = synthetic_tumour_volumes(pairs, seed=0, **options)
    assert set(copies.volume_ids.tolist()) == {"p0~synth0"}
    assert np.array_equal(copies.slice_numbers, real.slice_numbers)
    assert ((real.labels == 2) <= (copies.labels == 2)).all()  # real tumours kept as drawn
    assert (copies.labels == 2).sum() > (real.labels == 2).sum()  # and new ones added
    assert np.array_equal(copies.labels >= 1, real.labels >= 1)  # the liver is the same
    again = synthetic_tumour_volumes(pairs, seed=0, **options)
    assert np.array_equal(again.labels, copies.labels)  # seeded: the same copies each run
    via_spec = load_data(f"synth:{tmp_path}", seed=0, **options)  # the LiTS layout's ids
    assert set(via_spec.volume_ids.tolist()) == {"lits0~synth0"}
    assert np.array_equal(via_spec.labels >= 1, real.labels >= 1)
    with pytest.raises(LivsegInputError, match="tumour-stage"):
        load_data(f"synth:{tmp_path}", stage="liver", window=(0, 160), size=(96, 96))
    with pytest.raises(LivsegInputError, match="neither a slice folder"):
        load_data(f"synth:{tmp_path / 'absent'}", seed=0, **options)


@pytest.mark.slow
def test_synthetic_tumour_spec_labels_tumours_at_the_tumour_pixel_size(tmp_path):
    source = shared_file("lits_slices_256")
    names = sorted(path.name for path in (source / "images").iterdir())[::9]  # 59 of 525
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
        for name in names:
            (tmp_path / sub / name).symlink_to(source / sub / name)
    data = load_data(f"synth:{tmp_path}", stage="tumour", window=(0, 255), size=(160, 160),
                     pixel_mm=1.5)
    has_tumour = (data.labels == 2).any(axis=(1, 2))
    assert 0.6 < has_tumour.mean() < 1.0 and data.size == (160, 160)
    assert len(data) % 3 == 0  # three copies of each healthy-looking slice ...
    count = len(names)  # ... and slices with lesions left out
    assert 0.4 * 3 * count < len(data) < 0.8 * 3 * count
    assert len(set(data.volume_ids.tolist())) > count // 3


def test_tumour_stage_crops_the_liver_box_at_native_resolution():
    data = load_data("phantom:2", stage="tumour", window=(0, 255), size=(64, 64))
    assert data.size == (64, 64) and (data.labels == 2).any()
    liver_stage = load_data("phantom:2", stage="liver", window=(0, 255), size=(64, 64))
    liver_fraction = lambda d: (d.labels >= 1).mean()  # noqa: E731
    assert liver_fraction(data) > 2 * liver_fraction(liver_stage)


def test_tumour_stage_slices_reach_z_margin_beyond_the_liver():
    labels = np.zeros((40, 32, 32), np.uint8)
    labels[15:25, 8:24, 8:24] = 1  # liver on slices 15-24, 2 mm apart
    hu = np.zeros(labels.shape, np.float32)
    options = {"stage": "tumour", "window": (0, 100), "size": (32, 32)}
    default = volume_slices(hu, labels, (2.0, 1.0, 1.0), "v", **options)
    wide = volume_slices(hu, labels, (2.0, 1.0, 1.0), "v", z_margin_mm=20.0, **options)
    assert default.slice_numbers.tolist() == list(range(10, 30))  # 10 mm: 5 slices a side
    assert wide.slice_numbers.tolist() == list(range(5, 35))  # 20 mm: 10 slices a side
    assert wide.size == default.size == (32, 32)  # in-plane the box is the same
    assert (wide.labels[:10] == 0).all() and (wide.labels[-5:] == 0).all()


def test_an_anchored_tumour_stage_sees_a_brighter_liver_as_the_same_slices(tmp_path):
    """Contrast phases move the whole liver in HU: anchored at its median, the slices of a
    CT and of the same CT 40 HU brighter are the same; unanchored they differ."""
    labels = np.zeros((12, 40, 40), np.uint8)
    labels[2:10, 8:32, 8:32] = 1
    labels[4:7, 15:22, 15:22] = 2
    hu = np.select([labels == 2, labels == 1], [40.0, 90.0], -20.0).astype(np.float32)
    options = {"stage": "tumour", "window": (-100, 250), "size": (48, 48),
               "liver_anchor_hu": 120.0}
    plain = volume_slices(hu, labels, (2.0, 1.0, 1.0), "v", **options)
    bright = volume_slices(hu + 40, labels, (2.0, 1.0, 1.0), "v", **options)
    np.testing.assert_allclose(plain.images.astype(np.float32),
                               bright.images.astype(np.float32), atol=2e-3)
    assert plain.window == bright.window == (-100.0, 250.0)
    liver_pixels = plain.images[(plain.labels == 1)].astype(np.float32)
    assert np.allclose(liver_pixels, (120 + 100) / 350, atol=2e-3)  # the liver at 120 HU
    options.pop("liver_anchor_hu")
    unanchored = volume_slices(hu + 40, labels, (2.0, 1.0, 1.0), "v", **options)
    assert not np.allclose(plain.images.astype(np.float32),
                           unanchored.images.astype(np.float32), atol=2e-3)


def test_an_anchored_tumour_stage_refuses_slices_without_their_volume(tmp_path):
    folder = tmp_path / "slices"
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    with pytest.raises(LivsegInputError, match="holds no labelled volumes; a liver-anchored"):
        load_data(f"synth:{folder}", stage="tumour", window=(0, 160), size=(64, 64),
                  liver_anchor_hu=100.0)


def test_augmentation_moves_image_and_labels_together():
    generator = torch.Generator().manual_seed(0)
    labels = torch.zeros(6, 48, 48, dtype=torch.long)
    labels[:, 10:30, 5:20] = 1
    images = labels[:, None].float()
    warped, warped_labels = spatial_augment(images, labels, AugmentConfig(), generator)
    agreement = ((warped[:, 0] > 0.5).long() == warped_labels).float().mean()
    assert agreement > 0.97
    assert not torch.equal(warped_labels, labels)


def test_elastic_deformation_bends_image_and_labels_together_and_keeps_the_border():
    still = AugmentConfig(rotate_deg=0, shift_fraction=0, scale_range=(1, 1),
                          flip_probability=0)
    elastic = AugmentConfig(rotate_deg=0, shift_fraction=0, scale_range=(1, 1),
                            flip_probability=0, elastic_sigma=0.03)
    labels = torch.zeros(4, 64, 64, dtype=torch.long)
    labels[:, 16:48, 20:44] = 1
    images = labels[:, None].float()
    unchanged = spatial_augment(images, labels, still, torch.Generator().manual_seed(0))
    assert torch.equal(unchanged[1], labels)
    warped, warped_labels = spatial_augment(images, labels, elastic,
                                            torch.Generator().manual_seed(0))
    assert ((warped[:, 0] > 0.5).long() == warped_labels).float().mean() > 0.97
    moved = (warped_labels != labels).flatten(1).sum(1)
    assert (moved > 20).all()  # every sample's square is bent, by a few pixels
    assert ((warped_labels == 1).flatten(1).sum(1) > 0.7 * 32 * 24).all()
    offsets = elastic_displacement(4, (64, 64), elastic, torch.Generator().manual_seed(1), "cpu")
    assert offsets.shape == (4, 64, 64, 2)
    border = torch.cat([offsets[:, 0], offsets[:, -1], offsets[:, :, 0], offsets[:, :, -1]], 1)
    assert border.abs().max() < 1e-6 < offsets.abs().max()
    assert 0.01 < offsets.std() < 0.06  # of the same order as 2 * elastic_sigma, in grid units


def test_augmentation_is_repeatable_with_the_same_generator():
    images, labels = torch.rand(3, 1, 32, 32), torch.randint(0, 2, (3, 32, 32))
    a = augment_batch(images, labels, AugmentConfig(), torch.Generator().manual_seed(5))
    b = augment_batch(images, labels, AugmentConfig(), torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].min() >= 0 and a[0].max() <= 1


def test_loss_rewards_the_right_answer_and_weights_the_rare_class():
    target = torch.zeros(2, 16, 16, dtype=torch.long)
    target[:, 4:8, 4:8] = 1
    right = torch.stack([(target == 0), (target == 1)], 1).float() * 20 - 10
    wrong = -right
    loss = DiceCrossEntropyLoss(2)
    assert loss(right, target) < 0.01 < loss(wrong, target)
    missed = torch.zeros(2, 2, 16, 16)
    missed[:, 0] = 5.0  # background everywhere
    plain = DiceCrossEntropyLoss(2, (1.0, 1.0), dice_weight=0)(missed, target)
    weighted = DiceCrossEntropyLoss(2, (1.0, 10.0), dice_weight=0)(missed, target)
    assert weighted > plain


def test_tversky_beta_weighs_missed_voxels_more_and_is_dice_at_one_half():
    target = torch.zeros(1, 16, 16, dtype=torch.long)
    target[:, 4:12, 4:12] = 1  # 64 tumour pixels
    def logits(mask):
        return torch.stack([~mask, mask], 1).float() * 20 - 10
    too_small = torch.zeros(1, 16, 16, dtype=torch.bool)
    too_small[:, 4:12, 4:8] = True  # 32 found, 32 missed
    too_large = torch.zeros(1, 16, 16, dtype=torch.bool)
    too_large[:, 4:12, 0:16] = True  # 64 found, 64 false
    dice, tversky = (DiceCrossEntropyLoss(2, ce_weight=0, smooth=0, tversky_beta=b)
                     for b in (0.5, 0.7))
    # Dice: 1 - 2*32/(64+32) = 1/3 and 1 - 2*64/(64+128) = 1/3, alike
    assert dice(logits(too_small), target) == pytest.approx(1 / 3, abs=1e-4)
    assert dice(logits(too_large), target) == pytest.approx(1 / 3, abs=1e-4)
    # Tversky 0.7: 1 - 64/(64 + 1.4*32) and 1 - 128/(128 + 0.6*64)
    assert tversky(logits(too_small), target) == pytest.approx(1 - 64 / 108.8, abs=1e-4)
    assert tversky(logits(too_large), target) == pytest.approx(1 - 128 / 166.4, abs=1e-4)
    assert tversky(logits(too_small), target) > tversky(logits(too_large), target)
    with pytest.raises(ValueError):
        DiceCrossEntropyLoss(2, tversky_beta=1.0)


def test_prepare_writes_a_cache_that_training_data_loads(tmp_path, capsys):
    from livseg.cli import main

    cache = tmp_path / "phantoms.npz"
    assert main(["prepare", "--data", "phantom:2", "--size", "48", "--out", str(cache)]) == 0
    assert "2 volumes" in capsys.readouterr().out
    data = load_data(str(cache), stage="liver", window=(0, 255), size=(48, 48))
    assert data.size == (48, 48) and len(set(data.volume_ids.tolist())) == 2


def test_tumour_stage_refuses_liver_only_masks(tmp_path):
    from livseg.train.config import TrainConfig
    from livseg.train.loop import train

    cache = _slice_set().save(tmp_path / "liver_only.npz")
    data = SliceSet.load(cache)
    data.has_tumour_labels = False
    data.save(cache)
    with pytest.raises(LivsegInputError, match="tumour stage needs tumour labels"):
        train(TrainConfig(stage="tumour", data=str(cache), size=(4, 4)), tmp_path / "run")


def test_brightness_offsets_reach_the_configured_range_and_no_further():
    images = torch.full((256, 1, 8, 8), 0.5)
    config = AugmentConfig(brightness=0.2, contrast_range=(1.0, 1.0), noise_std=0.0,
                           blur_probability=0.0)
    offsets = (intensity_augment(images, config, torch.Generator().manual_seed(0))
               - 0.5)[:, 0, 0, 0]
    assert offsets.abs().max() <= 0.2 + 1e-6
    assert offsets.max() > 0.15 and offsets.min() < -0.15  # beyond the default 0.08


def test_slices_are_rewindowed_inside_their_own_window_only():
    from livseg.errors import LivsegInputError
    from livseg.train.slices import SliceSet
    from livseg.train.sources import rewindowed

    hu = np.array([0.0, 80.0, 127.5, 200.0, 255.0])
    data = SliceSet((hu / 255.0).astype(np.float16).reshape(5, 1, 1), np.zeros((5, 1, 1),
                    np.uint8), np.array(["a"] * 5), np.arange(5), (0.0, 255.0))
    narrow = rewindowed(data, (0.0, 160.0))
    assert narrow.window == (0.0, 160.0)
    expected = np.clip(hu, 0, 160) / 160
    assert np.allclose(narrow.images.ravel().astype(float), expected, atol=2e-3)
    assert rewindowed(data, (0.0, 255.0)) is data
    with pytest.raises(LivsegInputError, match="clipped to"):
        rewindowed(data, (-40.0, 160.0))
