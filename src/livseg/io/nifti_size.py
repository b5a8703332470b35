"""A check that a NIfTI file holds all the voxel data its header promises.

ITK's NIfTI reader fills a truncated file's missing voxels with zeros and carries on; a
CT with its last slices silently zeroed is worse than an error, so the sizes are compared
here before reading.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

from livseg.errors import LivsegInputError


def _expected_nifti_bytes(header: bytes) -> int | None:
    """vox_offset + voxel data size from a NIfTI-1 or NIfTI-2 header; None if unparsable."""
    for order in "<>":
        if len(header) >= 348 and struct.unpack(order + "i", header[:4])[0] == 348:
            dims = struct.unpack(order + "8h", header[40:56])
            bitpix = struct.unpack(order + "h", header[72:74])[0]
            offset = int(struct.unpack(order + "f", header[108:112])[0])
        elif len(header) >= 540 and struct.unpack(order + "i", header[:4])[0] == 540:
            bitpix = struct.unpack(order + "h", header[14:16])[0]
            dims = struct.unpack(order + "8q", header[16:80])
            offset = struct.unpack(order + "q", header[168:176])[0]
        else:
            continue
        n_dims = dims[0]
        if not 1 <= n_dims <= 7 or bitpix <= 0:
            return None
        voxels = 1
        for extent in dims[1:n_dims + 1]:
            voxels *= max(int(extent), 1)
        return offset + voxels * bitpix // 8
    return None


def _decompressed_size(path: Path, expected: int) -> int:
    """The uncompressed length of a gzip file (the trailer's ISIZE when it agrees)."""
    with path.open("rb") as stream:
        stream.seek(-4, 2)
        trailer = struct.unpack("<I", stream.read(4))[0]
    if trailer == expected % 2**32:
        return expected
    total = 0
    with gzip.open(path, "rb") as stream:
        while chunk := stream.read(1 << 22):
            total += len(chunk)
    return total


def check_nifti_complete(path: Path) -> None:
    """Raise LivsegInputError when ``path`` is shorter than its NIfTI header says."""
    compressed = path.name.lower().endswith(".gz")
    try:
        with (gzip.open(path, "rb") if compressed else path.open("rb")) as stream:
            header = stream.read(540)
        expected = _expected_nifti_bytes(header)
        if expected is None:
            return  # not a NIfTI header we understand: ITK will say what is wrong
        actual = _decompressed_size(path, expected) if compressed else path.stat().st_size
    except gzip.BadGzipFile:
        raise LivsegInputError("is not a gzip-compressed file, though named .gz", path) from None
    except (OSError, EOFError, zlib.error) as error:
        raise LivsegInputError(f"is a damaged compressed file ({error})", path) from None
    if actual < expected:
        raise LivsegInputError(f"is truncated: the header promises {expected} bytes of image, "
                               f"the file holds {actual}", path)
