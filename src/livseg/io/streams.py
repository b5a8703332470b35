"""Reading a file's voxel bytes once, in bounded blocks, to check them before ITK decodes.

ITK's readers do not check a gzip stream's CRC (a flipped byte gives silently wrong
voxels), fill a truncated file with zeros, and turn NaN into 0 in some formats. Here the
bytes are streamed through Python's ``gzip`` (which verifies the CRC and length at the end
of each member), counted against what the header promises, and floating-point voxels are
checked for NaN and infinity on the way; memory stays at one block.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from livseg.errors import LivsegInputError

BLOCK_BYTES = 1 << 22
#: Bytes a file may hold past the voxel data its header declares before it is refused.
TRAILING_SLACK_BYTES = 1 << 20


def check_voxel_stream(path: Path, *, compressed: bool, start: int, data_offset: int,
                       data_bytes: int, dtype: np.dtype | None) -> None:
    """Stream the file from byte ``start`` (gunzipped when ``compressed``) and refuse it
    when the stream is corrupt, shorter than ``data_offset + data_bytes`` (offsets in the
    streamed bytes), much longer, or (``dtype`` floating) holds NaN or infinite voxels."""
    expected = data_offset + data_bytes
    try:
        with open(path, "rb") as raw:
            raw.seek(start)
            stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            total = _scan(stream, path, data_offset, expected, dtype)
    except gzip.BadGzipFile as error:
        raise LivsegInputError(f"is a damaged gzip stream ({error})", path) from None
    except EOFError:
        raise LivsegInputError("is a truncated gzip stream (it ends before its end marker)",
                               path) from None
    except (zlib.error, OSError) as error:
        raise LivsegInputError(f"is a damaged compressed file ({error})", path) from None
    if total < expected:
        raise LivsegInputError(f"is truncated: the header promises {expected} bytes of image, "
                               f"the file holds {total}", path)


def _scan(stream: BinaryIO, path: Path, data_offset: int, expected: int,
          dtype: np.dtype | None) -> int:
    """Bytes in ``stream``; raises when there are far too many or a float voxel is not
    finite."""
    total, pending = 0, b""
    floating = dtype is not None and np.issubdtype(dtype, np.floating)
    while block := stream.read(BLOCK_BYTES):
        begin, total = total, total + len(block)
        if total > expected + TRAILING_SLACK_BYTES:
            raise LivsegInputError(f"holds more than the {expected} bytes its header declares "
                                   "(a decompression bomb or a wrong header)", path)
        if not floating:
            continue
        voxels = pending + block[max(data_offset - begin, 0): max(expected - begin, 0)]
        usable = len(voxels) - len(voxels) % dtype.itemsize
        if not np.isfinite(np.frombuffer(voxels[:usable], dtype=dtype)).all():
            raise LivsegInputError("holds NaN or infinite voxel values", path)
        pending = voxels[usable:]
    return total
