"""Hostile and awkward files, made by the tests themselves: headers that point at other
files, image bombs, damaged gzip streams, CTs not in HU, NaN voxels."""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom

from livseg.io import Volume, write_volume
from livseg.phantom import make_phantom
from tests.io.dicom_factory import write_series


def detached_mha(folder: Path, data_file: str = "/etc/passwd") -> Path:
    path = folder / "detached.mha"
    path.write_text("ObjectType = Image\nNDims = 3\nDimSize = 8 8 4\nElementType = MET_UCHAR\n"
                    f"ElementDataFile = {data_file}\n")
    return path


def detached_nrrd(folder: Path, data_file: str = "/etc/passwd") -> Path:
    path = folder / "detached.nrrd"
    path.write_text("NRRD0004\ntype: uchar\ndimension: 3\nsizes: 8 8 4\nencoding: raw\n"
                    f"data file: {data_file}\n\n")
    return path


def nifti_header(size_xyz: tuple[int, ...], datatype: int = 2, bitpix: int = 8,
                 vox_offset: float = 352.0, pixdim=(1.0, 1.0, 1.0)) -> bytes:
    """A NIfTI-1 single-file header (348 bytes + 4 bytes of extension flag)."""
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, len(size_xyz), *size_xyz, *[1] * (7 - len(size_xyz)))
    struct.pack_into("<2h", header, 70, datatype, bitpix)
    struct.pack_into("<8f", header, 76, 1.0, *pixdim, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into("<f", header, 108, vox_offset)
    struct.pack_into("<f", header, 112, 1.0)  # scl_slope
    struct.pack_into("<h", header, 252, 0)  # qform_code
    header[344:348] = b"n+1\0"
    return bytes(header)


def gzip_of_zeros(path: Path, header: bytes, zero_bytes: int) -> Path:
    """``header`` and then ``zero_bytes`` zeros, gzip-compressed (about 1000:1). Made
    without compressing them all: after a full flush a deflate stream starts afresh, so one
    compressed block of zeros stands for each of them (gzip.open at level 9 took 2 s)."""
    block = 1 << 22
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw: gzip's own frame
    start = deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH)
    whole = deflate.compress(bytes(block)) + deflate.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(zero_bytes, block)
    end = deflate.compress(bytes(rest)) + deflate.flush(zlib.Z_FINISH)
    crc = zlib.crc32(header)
    zeros = bytes(block)
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(rest), crc)
    with open(path, "wb") as stream:
        stream.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + start)
        for _ in range(count):
            stream.write(whole)
        stream.write(end + struct.pack("<II", crc, (len(header) + zero_bytes) & 0xFFFFFFFF))
    return path


def nifti_bomb(folder: Path, side: int = 20000) -> Path:
    """A .nii.gz of side x side x 1 uint8 zeros: under 0.5 MB that inflates to side² bytes."""
    return gzip_of_zeros(folder / "bomb.nii.gz", nifti_header((side, side, 1)), side * side)


def nifti_lying_small(folder: Path, inflated: int = 300 * 2**20) -> Path:
    """A .nii.gz declaring 8x8x4 voxels whose stream inflates to ``inflated`` bytes."""
    return gzip_of_zeros(folder / "lying.nii.gz", nifti_header((8, 8, 4)), inflated)


def phantom_ct(shape=(24, 64, 72)) -> Volume:
    return make_phantom(shape=shape, spacing=(4.0, 4.5, 7.0), n_tumours=1, seed=3).ct


def crc_corrupt(folder: Path) -> Path:
    """A real .nii.gz whose gzip CRC no longer matches its data (one byte of it flipped)."""
    path = write_volume(phantom_ct(), folder / "crc.nii.gz")
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # the CRC32 of the gzip trailer
    path.write_bytes(bytes(data))
    return path


def data_byte_flipped(folder: Path, offset_fraction: float = 0.5) -> Path:
    """A real .nii.gz with one byte of its deflate stream flipped."""
    path = write_volume(phantom_ct(), folder / "flipped.nii.gz")
    data = bytearray(path.read_bytes())
    data[int(len(data) * offset_fraction)] ^= 0x55
    path.write_bytes(bytes(data))
    return path


def unrescaled_ct(folder: Path) -> Path:
    """The phantom CT stored as uint16 = HU + 1024, with no rescale: air near 0."""
    ct = phantom_ct()
    raw = np.clip(ct.array.astype(np.int32) + 1024, 0, 4095).astype(np.uint16)
    return write_volume(ct.with_array(raw), folder / "unrescaled.nii.gz")


def unrescaled_dicom(folder: Path) -> Path:
    """The phantom CT as a DICOM series of stored values without RescaleSlope/Intercept."""
    ct = phantom_ct((12, 64, 72))
    stored = np.clip(ct.array.astype(np.int32) + 1024, 0, 4095).astype(np.uint16)
    write_series(folder / "dicom", stored, [(0.0, 0.0, 7.0 * k) for k in range(len(stored))],
                 rescale=False, pixel_spacing=(4.5, 4.0))
    return folder / "dicom"


def huge_dicom(folder: Path, side: int = 65535, pixel_bytes: int = 526 * 1024) -> Path:
    """One DICOM file of about 0.5 MB that declares side x side pixels."""
    write_series(folder / "huge", np.zeros((1, 8, 8), np.uint16), [(0.0, 0.0, 0.0)])
    path = next((folder / "huge").iterdir())
    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = side
    ds.PixelData = bytes(pixel_bytes)
    ds.save_as(path)
    return path


def nan_nifti(folder: Path) -> Path:
    """A float32 .nii.gz CT with a few NaN voxels."""
    ct = phantom_ct()
    hu = ct.array.astype(np.float32)
    hu[5, 10:12, 10:12] = np.nan
    return write_volume(ct.with_array(hu), folder / "nan.nii.gz")


def nan_vox_offset(folder: Path) -> Path:
    """A .nii.gz whose header's vox_offset is NaN (what a fuzzer's 3 inserted bytes made)."""
    path = folder / "nan_offset.nii.gz"
    path.write_bytes(gzip.compress(nifti_header((8, 8, 4), vox_offset=float("nan"))
                                   + bytes(256)))
    return path


__all__ = ["crc_corrupt", "data_byte_flipped", "detached_mha", "detached_nrrd",
           "huge_dicom", "nan_nifti", "nan_vox_offset", "nifti_bomb", "nifti_lying_small",
           "unrescaled_ct", "unrescaled_dicom"]


def colon_mha(folder: Path, data_file: str = "/etc/passwd") -> Path:
    """A MetaImage whose data file is named with ITK's other separator, ``:``, before a
    harmless ``= LOCAL``: ITK follows the colon line."""
    path = folder / "colon.mha"
    path.write_bytes(b"ObjectType = Image\nNDims = 3\nDimSize = 8 8 4\nElementType = MET_UCHAR\n"
                     + f"ElementDataFile: {data_file}\nElementDataFile = LOCAL\n".encode()
                     + bytes(256))
    return path


def with_separator(path: Path, separator: bytes) -> Path:
    """A copy of a MetaImage written by ITK with ``separator`` between its keys and values."""
    data = path.read_bytes()
    end = data.index(b"ElementDataFile = LOCAL\n") + len(b"ElementDataFile = LOCAL\n")
    copy = path.with_name("separator_" + path.name)
    copy.write_bytes(data[:end].replace(b" = ", separator) + data[end:])
    return copy


def nifti_patched(path: Path, offset: int, fmt: str, value, name: str) -> Path:
    """A copy of the .nii.gz ``path`` with one header field overwritten (``fmt`` at
    ``offset``), and its gzip stream made anew (so only the field is wrong)."""
    data = bytearray(gzip.decompress(path.read_bytes()))
    struct.pack_into("<" + fmt, data, offset, value)
    copy = path.with_name(name)
    copy.write_bytes(gzip.compress(bytes(data), compresslevel=1))
    return copy


def nifti2(folder: Path) -> Path:
    """A NIfTI-2 single-file header of 8x8x4 uint8 voxels."""
    header = bytearray(544)
    struct.pack_into("<i", header, 0, 540)
    header[4:12] = b"n+2\0\r\n\x1a\n"
    struct.pack_into("<2h", header, 12, 2, 8)
    struct.pack_into("<8q", header, 16, 3, 8, 8, 4, 1, 1, 1, 1)
    struct.pack_into("<8d", header, 104, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into("<q", header, 168, 544)
    path = folder / "nifti2.nii.gz"
    path.write_bytes(gzip.compress(bytes(header) + bytes(256)))
    return path
