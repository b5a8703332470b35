from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from livseg.errors import LivsegInputError
from livseg.io import Volume, read_volume, write_volume


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"])
def test_round_trip_keeps_array_and_geometry(tmp_path, oblique_volume, suffix):
    path = write_volume(oblique_volume, tmp_path / f"ct{suffix}")
    back = read_volume(path)
    np.testing.assert_array_equal(back.array, oblique_volume.array)
    assert back.array.dtype == np.int16
    assert back.same_grid(oblique_volume, tolerance=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_cropped_volume_keeps_each_voxel_where_it_was(oblique_volume, tmp_path):
    from livseg.preprocess import BoundingBox, uncrop

    box = BoundingBox((1, 2, 3), (4, 7, 9))
    part = oblique_volume.cropped(box)
    np.testing.assert_array_equal(part.array, oblique_volume.array[1:4, 2:7, 3:9])
    index = np.array([[0, 0, 0], [2, 4, 5]], float)
    np.testing.assert_allclose(part.index_to_physical(index),
                               oblique_volume.index_to_physical(index + box.start), atol=1e-9)
    back = read_volume(write_volume(part, tmp_path / "part.nii.gz"))  # its grid is a file's
    assert back.same_grid(part, tolerance=1e-5)
    whole = uncrop(part.array, box, oblique_volume.shape, 0)
    np.testing.assert_array_equal(whole[box.slices], part.array)


def test_index_to_physical_matches_simpleitk(oblique_volume, tmp_path):
    image = sitk.ReadImage(str(write_volume(oblique_volume, tmp_path / "v.nii.gz")))
    for index_zyx in [(0, 0, 0), (6, 8, 10), (3, 1, 7)]:
        expected = image.TransformIndexToPhysicalPoint(tuple(int(i) for i in index_zyx[::-1]))
        np.testing.assert_allclose(oblique_volume.index_to_physical(index_zyx), expected,
                                   atol=1e-4)


def test_write_replaces_only_when_complete(tmp_path, oblique_volume, monkeypatch):
    target = tmp_path / "out.nii.gz"
    write_volume(oblique_volume, target)
    before = target.read_bytes()
    with pytest.raises(LivsegInputError, match="unknown output format"):
        write_volume(oblique_volume, tmp_path / "out.png")

    def half_written(image, path, compress):  # a disk that fills up half-way
        Path(path).write_bytes(b"\x1f\x8b half a file")
        raise RuntimeError("ITK ERROR: write failed")

    monkeypatch.setattr("livseg.io.files.sitk.WriteImage", half_written)
    with pytest.raises(OSError, match="could not be written"):
        write_volume(oblique_volume.with_array(oblique_volume.array * 0), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nii.gz"]


def _expect_input_error(path, fragment):
    with pytest.raises(LivsegInputError) as caught:
        read_volume(path)
    message = str(caught.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_missing_path(tmp_path):
    _expect_input_error(tmp_path / "nope.nii.gz", "does not exist")


def test_empty_file(tmp_path):
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    _expect_input_error(tmp_path / "empty.nii.gz", "empty")


def test_random_bytes_named_nifti(tmp_path):
    path = tmp_path / "noise.nii.gz"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    _expect_input_error(path, "not a gzip-compressed file")
    plain = tmp_path / "noise.nii"
    plain.write_bytes(np.random.default_rng(2).bytes(4096))
    _expect_input_error(plain, "not a readable image")


def test_text_named_nrrd(tmp_path):
    path = tmp_path / "notes.nrrd"
    path.write_text("this is not an image\n")
    _expect_input_error(path, "not a readable image")


@pytest.mark.parametrize("compressed", [False, True])
def test_truncated_nifti(tmp_path, oblique_volume, compressed):
    whole = write_volume(oblique_volume, tmp_path / ("w.nii.gz" if compressed else "w.nii"))
    data = whole.read_bytes()
    if compressed:
        data = gzip.compress(gzip.decompress(data)[:500])  # valid gzip, short NIfTI payload
    cut = tmp_path / ("cut.nii.gz" if compressed else "cut.nii")
    cut.write_bytes(data[: len(data) // 2] if not compressed else data)
    _expect_input_error(cut, "truncated")


def test_unknown_extension(tmp_path):
    path = tmp_path / "scan.png"
    path.write_bytes(b"\x89PNG....")
    _expect_input_error(path, "unknown extension")


def test_2d_image_is_refused(tmp_path):
    path = tmp_path / "slice.nii.gz"
    sitk.WriteImage(sitk.Image(16, 16, sitk.sitkInt16), str(path))
    _expect_input_error(path, "2D image")


def test_4d_image_is_refused(tmp_path):
    path = tmp_path / "series.nii.gz"
    sitk.WriteImage(sitk.Image([8, 8, 4, 3], sitk.sitkInt16), str(path))
    _expect_input_error(path, "4D image")


def test_4d_with_one_volume_is_accepted(tmp_path):
    path = tmp_path / "one.nii.gz"
    sitk.WriteImage(sitk.Image([8, 6, 4, 1], sitk.sitkInt16), str(path))
    assert read_volume(path).shape == (4, 6, 8)


def test_vector_image_is_refused(tmp_path):
    path = tmp_path / "rgb.nrrd"
    sitk.WriteImage(sitk.Image([8, 8, 4], sitk.sitkVectorUInt8, 3), str(path))
    _expect_input_error(path, "values per voxel")


def test_nan_voxels_are_refused(tmp_path):
    array = np.zeros((3, 4, 5), np.float32)
    array[1, 2, 3] = np.nan
    path = write_volume(Volume(array), tmp_path / "nan.nrrd")
    _expect_input_error(path, "NaN")


def test_volume_rejects_bad_geometry():
    with pytest.raises(ValueError):
        Volume(np.zeros((2, 2)))
    with pytest.raises(ValueError):
        Volume(np.zeros((2, 2, 2)), spacing=(1.0, 0.0, 1.0))


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_truncated_nrrd_and_metaimage(tmp_path, oblique_volume, suffix):
    data = write_volume(oblique_volume, tmp_path / f"w{suffix}", compress=False).read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[:-300])
    _expect_input_error(cut, "truncated or corrupt")


def test_what_the_native_readers_print_goes_to_the_debug_log(capfd, caplog):
    """Regression: ITK's and the NIfTI library's warnings leaked onto stderr, after
    livseg's one-line message."""
    import logging
    import os

    from livseg.io.native import native_output_logged

    with caplog.at_level(logging.DEBUG, logger="livseg.io.native"), native_output_logged():
        os.write(2, b"** NIFTI: a warning from C\n")
    assert capfd.readouterr().err == ""
    assert "a warning from C" in caplog.text
    os.write(2, b"after\n")  # stderr is itself again
    assert capfd.readouterr().err == "after\n"
