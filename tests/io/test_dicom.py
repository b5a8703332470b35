from __future__ import annotations

import numpy as np
import pytest

from livseg.errors import LivsegInputError
from livseg.io import read_volume
from livseg.preprocess import to_canonical
from tests.conftest import shared_file
from tests.io.dicom_factory import write_series


def _stored(n=5, rows=6, cols=7, seed=0):
    return np.random.default_rng(seed).integers(0, 2000, size=(n, rows, cols)).astype(np.uint16)


def test_slices_are_ordered_by_position_not_by_file_name(tmp_path):
    stored = _stored()
    heights = [30.0, 10.0, 40.0, 0.0, 20.0]  # file order scrambled
    names = ["a.dcm", "b.dcm", "c.dcm", "d.dcm", "e.dcm"]
    write_series(tmp_path, stored, [(-5.0, 7.0, z) for z in heights], names=names)
    volume = read_volume(tmp_path)
    order = np.argsort(heights)
    np.testing.assert_array_equal(volume.array, stored[order].astype(np.int32) - 1024)
    assert volume.spacing == pytest.approx((0.7, 0.8, 10.0))
    assert volume.origin == pytest.approx((-5.0, 7.0, 0.0))
    assert volume.notes == ()


def test_rescale_slope_and_intercept_are_applied(tmp_path):
    stored = _stored(n=3)
    write_series(tmp_path, stored, [(0, 0, 2.5 * k) for k in range(3)], slope=0.5,
                 intercept=-1000.0)
    volume = read_volume(tmp_path)
    np.testing.assert_allclose(volume.array, stored * 0.5 - 1000.0)


def test_spacing_comes_from_positions_along_an_oblique_normal(tmp_path):
    row, col = np.array([1.0, 0, 0]), np.array([0, np.cos(0.3), np.sin(0.3)])
    normal = np.cross(row, col)
    positions = [tuple(np.array([1.0, 2.0, 3.0]) + 1.5 * k * normal) for k in range(4)]
    write_series(tmp_path, _stored(n=4), positions, orientation=(*row, *col))
    volume = read_volume(tmp_path)
    assert volume.spacing[2] == pytest.approx(1.5)
    np.testing.assert_allclose(volume.direction_matrix[:, 2], normal, atol=1e-6)


def test_a_missing_slice_is_interpolated_onto_an_even_grid(tmp_path):
    stored = _stored(n=4)
    write_series(tmp_path, stored, [(0, 0, z) for z in (0.0, 2.0, 4.0, 8.0)], intercept=0.0)
    volume = read_volume(tmp_path)
    assert any("uneven slice spacing" in note and "resampled to 5 slices" in note
               for note in volume.notes)
    assert volume.shape[0] == 5 and volume.spacing[2] == pytest.approx(2.0)
    hu = volume.array.astype(float)
    assert (hu[[0, 1, 2, 4]] == stored.astype(float)).all()  # the slices that are there
    np.testing.assert_allclose(hu[3], np.rint((stored[2].astype(float) + stored[3]) / 2))


def test_a_hole_of_many_slices_is_refused(tmp_path):
    write_series(tmp_path, _stored(n=4), [(0, 0, z) for z in (0.0, 2.0, 4.0, 14.0)])
    with pytest.raises(LivsegInputError, match="gap of 10 mm between slices 2 and 3"):
        read_volume(tmp_path)


def test_gantry_tilt_is_reported(tmp_path):
    shift = np.tan(np.radians(12.0)) * 2.0  # y moves 0.43 mm per 2 mm slice
    write_series(tmp_path, _stored(n=4), [(0.0, k * shift, 2.0 * k) for k in range(4)])
    notes = read_volume(tmp_path).notes
    assert any("gantry tilt of 12.00 degrees" in note for note in notes)


def test_localizer_is_left_out(tmp_path):
    write_series(tmp_path / "ct", _stored(n=3), [(0, 0, 3.0 * k) for k in range(3)])
    write_series(tmp_path / "scout", _stored(n=1, seed=2), [(0, 0, 0)],
                 image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    assert read_volume(tmp_path).shape == (3, 6, 7)


def test_two_series_are_refused_with_a_listing(tmp_path):
    write_series(tmp_path / "one", _stored(n=3), [(0, 0, 3.0 * k) for k in range(3)])
    write_series(tmp_path / "two", _stored(n=2), [(0, 0, 3.0 * k) for k in range(2)])
    with pytest.raises(LivsegInputError, match="holds 2 DICOM image series.*3 slices.*2 slices"):
        read_volume(tmp_path)


def test_non_ct_modality_is_refused(tmp_path):
    write_series(tmp_path, _stored(n=2), [(0, 0, 3.0 * k) for k in range(2)], modality="MR")
    with pytest.raises(LivsegInputError, match="MR-modality series; livseg reads CT only"):
        read_volume(tmp_path)


def test_folder_without_dicom_is_refused(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(LivsegInputError, match="holds no DICOM image series"):
        read_volume(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LivsegInputError, match="holds no DICOM image series"):
        read_volume(empty)


def test_duplicate_positions_are_refused(tmp_path):
    write_series(tmp_path, _stored(n=3), [(0, 0, 0.0), (0, 0, 2.0), (0, 0, 2.0)])
    with pytest.raises(LivsegInputError, match="same position"):
        read_volume(tmp_path)


def test_single_dicom_file_reads_as_one_slice(tmp_path):
    write_series(tmp_path, _stored(n=2), [(0, 0, 0.0), (0, 0, 2.0)])
    assert read_volume(tmp_path / "slice001.dcm").shape == (1, 6, 7)


def test_nifti_named_dcm_is_refused(tmp_path, oblique_volume):
    from livseg.io import write_volume

    nifti = write_volume(oblique_volume, tmp_path / "x.nii")
    fake = tmp_path / "fake.dcm"
    fake.write_bytes(nifti.read_bytes())
    with pytest.raises(LivsegInputError, match="fake.dcm: is not a DICOM CT image"):
        read_volume(fake)


def test_real_dicom_series_matches_its_nifti_label_grid():
    """totalseg_dicom20: the series and the NIfTI label share one grid once canonical."""
    ct = read_volume(shared_file("totalseg_dicom20/dicom"))
    label = read_volume(shared_file("totalseg_dicom20/segmentation_model_generated.nii.gz"))
    ct_canonical, _ = to_canonical(ct)
    label_canonical, _ = to_canonical(label)
    assert ct_canonical.same_grid(label_canonical, tolerance=1e-3)
    liver_hu = ct_canonical.array[label_canonical.array == 1]
    assert 40 < np.median(liver_hu) < 160  # the label lies on liver tissue, not beside it


def test_real_dicom_rescale_matches_pydicom():
    import pydicom

    folder = shared_file("dcmqi_ct3slice/dicom")
    volume = read_volume(folder)
    first = pydicom.dcmread(folder / "01.dcm")
    expected = first.pixel_array * float(first.RescaleSlope) + float(first.RescaleIntercept)
    heights = [float(pydicom.dcmread(folder / f"0{k}.dcm").ImagePositionPatient[2])
               for k in (1, 2, 3)]
    np.testing.assert_array_equal(volume.array[int(np.argsort(heights).tolist().index(0))],
                                  expected)


@pytest.mark.parametrize("direction", [(1, 0, 0, 0, 1, 0, 0, 0, 1),
                                       (0.6, 0, 0.8, 0, 1, 0, -0.8, 0, 0.6)])
def test_a_volume_written_as_a_series_reads_back_on_its_grid(tmp_path, direction):
    from livseg.io import Volume
    from livseg.io.dicom_write import write_dicom_series

    hu = np.random.default_rng(1).integers(-1000, 1500, size=(4, 6, 7)).astype(np.int16)
    volume = Volume(hu, spacing=(0.7, 0.9, 2.5), origin=(10.0, -3.0, 40.0),
                    direction=tuple(float(d) for d in direction))
    write_dicom_series(volume, tmp_path)
    back = read_volume(tmp_path)
    assert back.same_grid(volume)
    np.testing.assert_array_equal(back.array, hu)


def _series_with(tmp_path, change, slices=4, which=(1,)):
    """A 4-slice CT series with ``change(dataset)`` applied to the slices ``which``."""
    import pydicom

    folder = tmp_path / "series"
    stored = np.full((slices, 16, 16), 1024, np.uint16)
    stored[:, 4:12, 4:12] = 1074
    stored[:, 0, :] = 24
    write_series(folder, stored, [(0.0, 0.0, 2.0 * k) for k in range(slices)])
    for index in which:
        path = sorted(folder.iterdir())[index]
        ds = pydicom.dcmread(path)
        change(ds)
        ds.save_as(path)
    return folder


@pytest.mark.parametrize("value", [[0, 0], [-1, -1], ["nan", "nan"], [0.7]])
def test_a_pixel_spacing_that_is_no_size_is_refused(tmp_path, value):
    """Regression: GDCM read PixelSpacing 0\\0, -1\\-1 and nan\\nan as 1 mm, silently."""
    def change(ds):
        ds.PixelSpacing = value

    folder = _series_with(tmp_path, change, which=range(4))
    with pytest.raises(LivsegInputError, match="PixelSpacing of") as caught:
        read_volume(folder)
    assert "\n" not in str(caught.value)


def test_odd_slices_in_a_series_are_refused(tmp_path):
    def rgb(ds):
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "RGB"
        ds.PlanarConfiguration = 0
        ds.PixelData = bytes(16 * 16 * 3 * 2)

    def mr(ds):
        ds.Modality = "MR"

    def spacing(ds):
        ds.PixelSpacing = [0.9, 0.7]

    def cut(ds):
        ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]

    def unplaced(ds):
        del ds.ImagePositionPatient

    for change, words in ((rgb, "not greyscale"), (mr, "different modalities"),
                          (spacing, "different pixel spacings"), (cut, "bytes of pixel data")):
        with pytest.raises(LivsegInputError, match=words):
            read_volume(_series_with(tmp_path / change.__name__, change))
    with pytest.raises(LivsegInputError, match="without ImagePositionPatient"):
        read_volume(_series_with(tmp_path / "unplaced", unplaced, which=range(4)))


def test_the_pixel_spacing_read_is_the_header_s(tmp_path):
    def change(ds):
        ds.PixelSpacing = [0.9, 0.6]  # rows 0.9 mm apart, columns 0.6 mm

    volume = read_volume(_series_with(tmp_path, change, which=range(4)))
    assert volume.spacing[:2] == pytest.approx((0.6, 0.9))
