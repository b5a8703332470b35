"""Hostile files at the reader: refused from their headers before anything is decoded,
with one line naming the file; never another file of the machine read in their place."""
from __future__ import annotations

import gzip
import time

import numpy as np
import pytest

from livseg.errors import LivsegInputError
from livseg.io import DEFAULT_LIMITS, UPLOAD_LIMITS, ReadLimits, read_volume, write_volume
from livseg.io.hu_check import hu_warnings, read_ct
from tests.io import hostile_files as hostile


def _refused(path, words: str, limits=DEFAULT_LIMITS, seconds: float = 10.0):
    started = time.perf_counter()
    with pytest.raises(LivsegInputError) as caught:
        read_volume(path, limits=limits)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert words in message, message
    assert time.perf_counter() - started < seconds
    return message


@pytest.mark.parametrize("make", [hostile.detached_mha, hostile.detached_nrrd])
@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, UPLOAD_LIMITS])
def test_a_header_pointing_at_another_file_of_the_machine_is_refused(tmp_path, make, limits):
    _refused(make(tmp_path), "/etc/passwd", limits)


@pytest.mark.parametrize("make", [hostile.detached_mha, hostile.detached_nrrd])
def test_a_data_file_in_a_subfolder_or_a_parent_is_not_followed(tmp_path, make):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.raw").write_bytes(bytes(256))
    _refused(make(tmp_path, "sub/data.raw"), "beside the header")
    (tmp_path / "inner").mkdir()
    _refused(make(tmp_path / "inner", "../sub/data.raw"), "beside the header")


@pytest.mark.parametrize("suffix", [".mhd", ".nhdr"])
def test_a_data_file_beside_its_header_is_read_on_the_command_line_only(tmp_path, suffix,
                                                                         oblique_volume):
    header = write_volume(oblique_volume, tmp_path / f"ct{suffix}")
    assert len(list(tmp_path.iterdir())) == 2  # the header and its data file
    volume = read_volume(header)
    assert (volume.array == oblique_volume.array).all()
    _refused(header, "keeps its voxel data in another file", UPLOAD_LIMITS)


def test_a_data_file_that_links_out_of_the_folder_is_not_followed(tmp_path):
    (tmp_path / "data.raw").symlink_to("/etc/passwd")
    _refused(hostile.detached_mha(tmp_path, "data.raw"), "not a file in the header's folder")


def test_an_image_bomb_is_refused_from_its_header(tmp_path):
    bomb = hostile.nifti_bomb(tmp_path)
    assert bomb.stat().st_size < 2**20  # 400 MB of voxels in under 1 MB
    _refused(bomb, "20000x20000 voxels per slice", seconds=2.0)


def test_a_stream_inflating_past_its_header_is_refused_without_inflating_it(tmp_path):
    lying = hostile.nifti_lying_small(tmp_path)
    _refused(lying, "more than the", seconds=3.0)


def test_a_huge_dicom_declaration_is_refused_before_decoding(tmp_path):
    huge = hostile.huge_dicom(tmp_path)
    assert huge.stat().st_size < 2**20
    _refused(huge, "65535x65535 voxels per slice", seconds=3.0)


def test_the_voxel_budget_is_a_setting(tmp_path, oblique_volume):
    path = write_volume(oblique_volume, tmp_path / "ct.nrrd")
    assert read_volume(path, limits=ReadLimits(max_voxels=oblique_volume.array.size))
    _refused(path, "--max-voxels", ReadLimits(max_voxels=oblique_volume.array.size - 1))
    _refused(path, "more than the 10x10", ReadLimits(max_in_plane=10))


@pytest.mark.parametrize("make", [hostile.crc_corrupt, hostile.data_byte_flipped])
def test_a_damaged_gzip_stream_is_refused(tmp_path, make):
    _refused(make(tmp_path), "gzip")


def test_nan_voxels_in_nifti_are_refused(tmp_path):
    _refused(hostile.nan_nifti(tmp_path), "NaN")


def test_the_fuzzers_nan_vox_offset_is_a_clear_error(tmp_path):
    """Regression: an unseeded fuzz run inserted 3 bytes at offset 135 of a .nii.gz, which
    made the header's vox_offset NaN and raised 'cannot convert float NaN to integer'."""
    path = hostile.nan_vox_offset(tmp_path)
    with pytest.raises(LivsegInputError):
        read_volume(path)


@pytest.mark.parametrize("spacing", [(1e5, 1.0, 1.0), (0.8, 0.8, 150.0), (0.8, 60.0, 1.0)])
def test_absurd_spacings_are_refused(tmp_path, spacing):
    volume = hostile.phantom_ct()
    path = write_volume(type(volume)(volume.array, spacing), tmp_path / "ct.nrrd")
    _refused(path, "voxel size")


def test_a_zero_spacing_is_refused(tmp_path):
    path = tmp_path / "zero.nii.gz"
    path.write_bytes(__import__("gzip").compress(
        hostile.nifti_header((8, 8, 4), pixdim=(0.0, 1.0, 1.0)) + bytes(256)))
    with pytest.raises(LivsegInputError):
        read_volume(path)


def test_a_ct_without_its_rescale_is_refused(tmp_path):
    with pytest.raises(LivsegInputError, match="rescale"):
        read_ct(hostile.unrescaled_ct(tmp_path))
    with pytest.raises(LivsegInputError, match="rescale"):
        read_ct(hostile.unrescaled_dicom(tmp_path))


def test_a_clipped_ct_is_read_with_a_warning_and_a_real_one_without(tmp_path):
    hu = hostile.phantom_ct().array
    assert hu_warnings(hu) == []
    warnings = hu_warnings(np.clip(hu, -40, 160))
    assert len(warnings) == 1 and "no air" in warnings[0]
    with pytest.raises(LivsegInputError, match="one value"):
        hu_warnings(np.zeros((4, 16, 16), np.int16))


def test_a_data_file_named_with_the_other_separator_is_refused(tmp_path):
    """Regression: ``ElementDataFile: /etc/passwd`` then ``ElementDataFile = LOCAL`` passed
    a check that read only ``=``, and ITK read /etc/passwd as the CT."""
    _refused(hostile.colon_mha(tmp_path), "/etc/passwd")
    for limits in (DEFAULT_LIMITS, UPLOAD_LIMITS):  # one colon line alone: a data file
        path = tmp_path / "one_colon.mha"
        path.write_text("NDims = 3\nDimSize = 8 8 4\nElementType = MET_UCHAR\n"
                        "ElementDataFile: /etc/passwd\n")
        _refused(path, "/etc/passwd", limits)


@pytest.mark.parametrize("separator", [b": ", b"=", b" : "])
def test_a_metaimage_written_with_either_separator_reads_the_same(tmp_path, separator,
                                                                  oblique_volume):
    path = write_volume(oblique_volume, tmp_path / "ct.mha")
    volume = read_volume(hostile.with_separator(path, separator), limits=UPLOAD_LIMITS)
    assert (volume.array == oblique_volume.array).all() and volume.same_grid(oblique_volume)


def test_itk_reads_only_the_header_livseg_wrote(tmp_path):
    """Fields livseg does not check never reach ITK; those it does are refused when odd."""
    base = "NDims = 3\nDimSize = 8 8 4\nElementType = MET_UCHAR\n"
    cases = {"ElementSpacing = 1 nan 1\n": "ElementSpacing",
             "TransformMatrix = 1 0 0\n": "TransformMatrix",
             "CompressedData = maybe\n": "CompressedData", "HeaderSize = 5\n": "HeaderSize",
             "HeaderSize = 8 8 4\n": "HeaderSize",  # found by the header grammar fuzzer
             "NDims = 3\n": "'ndims' twice", "Offset = 0 0 0\nPosition = 0 0 0\n":
             "'offset' twice", "Element\x01Type = MET_UCHAR\n": "malformed"}
    for extra, words in cases.items():
        path = tmp_path / "odd.mha"
        path.write_bytes((base + extra + "ElementDataFile = LOCAL\n").encode() + bytes(256))
        _refused(path, words)
    nrrd = {"sizes: 8 8 4\n": "'sizes' twice", "data file: x\n": "'datafile' twice",
            "byte skip: 2\n": "without a 'data file'", "secret: 1\n": "unknown NRRD field",
            "encoding: zip\n": "'encoding' twice"}
    for extra, words in nrrd.items():
        path = tmp_path / "odd.nrrd"
        path.write_bytes(("NRRD0004\ntype: uchar\ndimension: 3\nsizes: 8 8 4\nencoding: raw\n"
                          "data file: x\n"[: -13 if "data file" not in extra else None]
                          + extra + "\n").encode() + bytes(256))
        _refused(path, words)


def test_a_nifti_header_with_a_wrong_size_field_is_refused_before_itk(tmp_path):
    """Regression: sizeof_hdr 347 or 0 made livseg's header check stand aside, and ITK
    (which looks only at the magic) read a file with a bad CRC, truncated data or NaN."""
    real = write_volume(hostile.phantom_ct(), tmp_path / "real.nii.gz")
    for size in (347, 0):
        nan = hostile.nifti_patched(hostile.nan_nifti(tmp_path), 0, "i", size, "nan.nii.gz")
        crc = hostile.nifti_patched(real, 0, "i", size, "crc.nii.gz")
        crc.write_bytes(crc.read_bytes()[:-8] + b"\0\0\0\0" + crc.read_bytes()[-4:])
        cut = hostile.nifti_patched(real, 0, "i", size, "cut.nii.gz")
        cut.write_bytes(gzip.compress(gzip.decompress(cut.read_bytes())[:2000]))
        for path in (nan, crc, cut):
            _refused(path, f"sizeof_hdr is {size}")


def test_nifti_header_fields_that_disagree_are_named(tmp_path):
    nan = hostile.nan_nifti(tmp_path)
    _refused(hostile.nifti_patched(nan, 72, "h", 16, "bitpix.nii.gz"), "bitpix says 16")
    _refused(hostile.nifti_patched(nan, 344, "4s", b"nx1\0", "magic.nii.gz"), "magic")
    _refused(hostile.nifti2(tmp_path), "NIfTI-2")


def test_data_that_is_not_hu_is_refused_not_warned_of(tmp_path):
    """Regression: uint8 0..255 gave a 1195 ml "liver", HU x 1000 1106 ml and a DICOM
    RescaleSlope of 1e6 7616 ml, each with a warning and exit 0."""
    ct = hostile.phantom_ct()
    hu = ct.array.astype(np.float32)
    eight_bit = np.clip(hu, 0, 255).astype(np.uint8)
    cases = {"uint8.nii.gz": (eight_bit, "no negative values"),
             "milli.nii.gz": (hu * 1000, "far above")}
    for name, (array, words) in cases.items():
        with pytest.raises(LivsegInputError, match=words):
            read_ct(write_volume(ct.with_array(array), tmp_path / name))
    stored = np.clip(hu + 1024, 0, 4095).astype(np.uint16)[:6]
    from tests.io.dicom_factory import write_series

    write_series(tmp_path / "slope", stored, [(0.0, 0.0, 7.0 * k) for k in range(6)],
                 slope=1e6, pixel_spacing=(4.5, 4.0))
    with pytest.raises(LivsegInputError, match="far above"):
        read_ct(tmp_path / "slope")
    # a CT clipped to a soft-tissue window (as lits_vol256 is) is still HU, and so is one
    # padded outside its field of view with -3024 or -32768
    assert read_ct(write_volume(ct.with_array(np.clip(hu, -40, 160)), tmp_path / "w.nii.gz"))
    for pad in (-3024, -32768):
        padded = hu.astype(np.int16)
        padded[:, :20, :] = pad
        assert read_ct(write_volume(ct.with_array(padded), tmp_path / f"pad{-pad}.nii.gz"))


def test_a_series_asked_of_a_single_file_is_refused(tmp_path):
    path = write_volume(hostile.phantom_ct(), tmp_path / "ct.nii.gz")
    with pytest.raises(LivsegInputError, match="--series chooses"):
        read_volume(path, series="1.2.3")
