from __future__ import annotations

import numpy as np
import pytest

from livseg.io import Volume
from livseg.preprocess import (
    centre_pad,
    crop,
    hu_from_window,
    hu_window,
    liver_hu_offset,
    mask_bbox,
    resample_to_grid,
    resample_to_spacing,
    resize_in_plane,
    uncrop,
)


def test_hu_window_clips_scales_and_inverts():
    hu = np.array([-1000.0, -100.0, 50.0, 200.0, 3000.0])
    scaled = hu_window(hu, -100, 200)
    np.testing.assert_allclose(scaled, [0, 0, 0.5, 1, 1])
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(hu_from_window(scaled, -100, 200), np.clip(hu, -100, 200))
    with pytest.raises(ValueError):
        hu_window(hu, 10, 10)


def test_liver_hu_offset_puts_the_livers_median_at_the_anchor():
    rng = np.random.default_rng(0)
    hu = rng.normal(-500, 50, (300, 20, 20)).astype(np.float32)
    liver = np.zeros(hu.shape, bool)
    liver[40:260, 5:15, 5:15] = True  # 220 slices: sampled, not all read
    hu[liver] = rng.normal(70, 10, liver.sum())
    hu[100:110, 5:10, 5:10] = 20  # a dark tumour inside the liver moves the median little
    offset = liver_hu_offset(hu, liver, 100.0)
    assert offset == pytest.approx(100 - np.median(hu[liver]), abs=1.0)
    assert liver_hu_offset(hu + 40, liver, 100.0) == pytest.approx(offset - 40, abs=1e-3)
    assert liver_hu_offset(hu, np.zeros(hu.shape, bool), 100.0) == 0.0


def test_bbox_margin_is_in_millimetres_per_axis():
    mask = np.zeros((20, 30, 40), bool)
    mask[10, 15, 20] = True
    box = mask_bbox(mask, spacing_zyx=(5.0, 1.0, 0.5), margin_mm=4.0)
    # 4 mm is 1 slice of 5 mm (rounded up), 4 rows of 1 mm, 8 columns of 0.5 mm
    assert box.start == (9, 11, 12) and box.stop == (12, 20, 29)


def test_bbox_is_clipped_to_the_array_and_none_when_empty():
    mask = np.zeros((5, 6, 7), bool)
    assert mask_bbox(mask) is None
    mask[0, 5, 3] = True
    box = mask_bbox(mask, (1.0, 1.0, 1.0), margin_mm=10)
    assert box.start == (0, 0, 0) and box.stop == (5, 6, 7)


def test_uncrop_inverts_crop():
    rng = np.random.default_rng(0)
    array = rng.normal(size=(9, 11, 13)).astype(np.float32)
    mask = np.zeros(array.shape, bool)
    mask[2:5, 3:9, 4:6] = True
    box = mask_bbox(mask, (2.0, 1.0, 1.0), margin_mm=1.0)
    cropped = crop(array, box)
    assert cropped.shape == (5, 8, 4)
    back = uncrop(cropped, box, array.shape, fill_value=-7)
    np.testing.assert_array_equal(back[box.slices], array[box.slices])
    outside = np.ones(array.shape, bool)
    outside[box.slices] = False
    assert np.all(back[outside] == -7)
    stacked = uncrop(np.stack([cropped, cropped]), box, array.shape)
    assert stacked.shape == (2, *array.shape)


def test_centre_pad_centres_the_slices_and_crop_inverts_it():
    array = np.arange(3 * 5 * 8, dtype=np.float32).reshape(3, 5, 8)
    padded, box = centre_pad(array, (10, 6), fill=-1)
    assert padded.shape == (3, 10, 8)  # an axis longer than the canvas stays whole
    assert box.start == (2, 0) and box.stop == (7, 8)  # 5 rows: 2 above, 3 below
    np.testing.assert_array_equal(crop(padded, box), array)
    assert np.all(padded[:, :2] == -1) and np.all(padded[:, 7:] == -1)
    same, whole = centre_pad(array, (5, 8))
    assert same is array and whole.shape == (5, 8)


def test_resize_in_plane_labels_round_trip_exactly_on_integer_factors():
    labels = np.random.default_rng(1).integers(0, 3, size=(4, 16, 24)).astype(np.uint8)
    up = resize_in_plane(labels, (64, 96), is_label=True)
    assert up.dtype == np.uint8 and set(np.unique(up)) <= {0, 1, 2}
    np.testing.assert_array_equal(resize_in_plane(up, (16, 24), is_label=True), labels)


def test_resize_in_plane_images_round_trip_closely():
    yy, xx = np.mgrid[0:40, 0:50].astype(np.float32)
    smooth = np.sin(yy / 7.0) + np.cos(xx / 9.0)
    there = resize_in_plane(smooth[None], (128, 128), is_label=False)
    back = resize_in_plane(there, (40, 50), is_label=False)[0]
    assert np.abs(back - smooth)[2:-2, 2:-2].max() < 0.02


def test_resample_to_spacing_and_back_to_the_grid():
    spacing = (0.8, 0.8, 2.5)
    labels = np.zeros((20, 40, 40), np.uint8)
    labels[4:14, 10:30, 12:28] = 1
    volume = Volume(labels, spacing=spacing, origin=(-10.0, 5.0, 30.0),
                    direction=(0, 1, 0, -1, 0, 0, 0, 0, 1))
    coarse = resample_to_spacing(volume, (1.6, 1.6, 5.0), is_label=True)
    assert coarse.shape == (10, 20, 20)
    # the field of view is the same: first voxel corner stays where it was
    corner = volume.index_to_physical(np.array([-0.5, -0.5, -0.5]))
    np.testing.assert_allclose(coarse.index_to_physical(np.array([-0.5, -0.5, -0.5])), corner)
    back = resample_to_grid(coarse, volume, is_label=True)
    assert back.same_grid(volume)
    np.testing.assert_array_equal(back.array, labels)  # box edges fall on even voxels


def test_linear_resampling_of_an_image_preserves_its_mean():
    ramp = np.broadcast_to(np.arange(30, dtype=np.float32)[None, None, :], (6, 12, 30)).copy()
    volume = Volume(ramp, spacing=(1.0, 1.0, 3.0))
    fine = resample_to_spacing(volume, (0.5, 1.0, 3.0), is_label=False)
    assert fine.shape == (6, 12, 60)
    interior = fine.array[:, :, 2:-2]
    np.testing.assert_allclose(np.diff(interior, axis=2), 0.5, atol=1e-5)


@pytest.mark.parametrize(("shape", "size"), [
    ((3, 64, 64), (32, 32)),  # exactly half: the slicing path
    ((2, 32, 32), (64, 64)),  # exactly double
    ((2, 64, 48), (32, 96)),  # one of each
    ((4, 37, 91), (60, 23)),  # anything else: the general path
    ((1, 1, 7), (2, 19)),
])
def test_resize_in_plane_matches_torch_interpolate(shape, size):
    import torch

    rng = np.random.default_rng(0)
    image = rng.normal(size=shape).astype(np.float32)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(image)[:, None], size=size, mode="bilinear", align_corners=False)
    assert np.abs(resize_in_plane(image, size, is_label=False) - expected[:, 0].numpy()).max() \
        < 1e-4  # float32 rounding of a different order of operations
    labels = rng.integers(0, 3, size=shape).astype(np.uint8)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(labels)[:, None].float(), size=size, mode="nearest-exact")
    assert (resize_in_plane(labels, size, is_label=True) == expected[:, 0].numpy()).all()
