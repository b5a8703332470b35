"""Checks of a NIfTI file from its header, before ITK reads it.

The header's declared size is checked against the read limits first (a 2 MB file that
declares 30000x30000 voxels is refused at once), then the voxel bytes are streamed once:
the gzip CRC and length verified, the length compared with what the header promises (ITK
fills a truncated file with zeros) and float voxels checked for NaN (ITK turns some into 0).
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livseg.errors import LivsegInputError
from livseg.io.limits import ReadLimits, check_declared_size
from livseg.io.streams import check_voxel_stream

#: NIfTI datatype codes -> numpy types (the scalar ones livseg can read).
_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4",
           1024: "i8", 1280: "u8"}


@dataclass(frozen=True)
class NiftiHeader:
    size: tuple[int, ...]  # dim[1..n]: x, y, z, t, ...
    pixdim: tuple[float, ...]  # pixdim[1..3]: voxel size along x, y, z
    bitpix: int
    datatype: int
    vox_offset: int
    scale: tuple[float, float]  # scl_slope, scl_inter
    byte_order: str
    single_file: bool  # magic n+1/n+2; ni1/ni2 keeps its voxels in a .img file

    @property
    def data_bytes(self) -> int:
        return math.prod(self.size) * self.bitpix // 8

    @property
    def dtype(self) -> np.dtype | None:
        code = _DTYPES.get(self.datatype)
        return None if code is None else np.dtype(self.byte_order + code)


def parse_nifti_header(header: bytes) -> NiftiHeader | None:
    """The fields livseg checks of a NIfTI-1 or NIfTI-2 header; None when ``header`` is
    not one (ITK then says what is wrong); ValueError naming the field when it is one with
    an impossible size, type or offset."""
    for order in "<>":
        if len(header) >= 348 and struct.unpack(order + "i", header[:4])[0] == 348:
            datatype, bitpix = struct.unpack(order + "2h", header[70:74])
            dims = struct.unpack(order + "8h", header[40:56])
            pixdim = struct.unpack(order + "3f", header[80:92])
            offset = struct.unpack(order + "f", header[108:112])[0]
            scale = struct.unpack(order + "2f", header[112:120])
            magic = header[344:347]
        elif len(header) >= 540 and struct.unpack(order + "i", header[:4])[0] == 540:
            datatype, bitpix = struct.unpack(order + "2h", header[12:16])
            dims = struct.unpack(order + "8q", header[16:80])
            pixdim = struct.unpack(order + "3d", header[112:136])
            offset = struct.unpack(order + "q", header[168:176])[0]
            scale = struct.unpack(order + "2d", header[176:192])
            magic = header[4:7]
        else:
            continue
        n_dims = dims[0]
        if not 1 <= n_dims <= 7:
            raise ValueError(f"its number of dimensions is {n_dims}")
        if bitpix <= 0 or bitpix % 8:
            raise ValueError(f"its bits per voxel are {bitpix}")
        if not math.isfinite(offset) or offset < 0:
            raise ValueError(f"its voxel data offset (vox_offset) is {offset}")
        if not all(math.isfinite(d) and d != 0 for d in pixdim[:min(n_dims, 3)]):
            raise ValueError(f"its voxel size (pixdim) is {pixdim[:n_dims]}")
        return NiftiHeader(size=tuple(int(n) for n in dims[1:n_dims + 1]),
                           pixdim=tuple(float(d) for d in pixdim), bitpix=bitpix,
                           datatype=datatype, vox_offset=int(offset),
                           scale=(float(scale[0]), float(scale[1])), byte_order=order,
                           single_file=magic in (b"n+1", b"n+2"))
    return None


def check_nifti_file(path: Path, limits: ReadLimits) -> None:
    """Raise LivsegInputError when the NIfTI ``path`` declares more than ``limits`` allow,
    is a damaged gzip stream, is shorter than its header says or holds NaN voxels."""
    compressed = path.name.lower().endswith(".gz")
    try:
        with (gzip.open(path, "rb") if compressed else path.open("rb")) as stream:
            header = parse_nifti_header(stream.read(540))
    except ValueError as error:  # before OSError: gzip's errors are OSErrors, not these
        raise LivsegInputError(f"has a damaged NIfTI header: {error}", path) from None
    except gzip.BadGzipFile:
        raise LivsegInputError("is not a gzip-compressed file, though named .gz", path) from None
    except (OSError, EOFError, zlib.error) as error:
        raise LivsegInputError(f"is a damaged compressed file ({error})", path) from None
    if header is None:
        return  # not a NIfTI header we understand: ITK will say what is wrong
    if not header.single_file:
        raise LivsegInputError("is a NIfTI header whose voxels are in a separate .img file; "
                               "livseg reads single-file NIfTI (.nii, .nii.gz)", path)
    check_declared_size(header.size, path, limits)
    if not all(math.isfinite(v) for v in header.scale):
        raise LivsegInputError("has a voxel scaling (scl_slope, scl_inter) that is not a "
                               "finite number", path)
    dtype = header.dtype if header.dtype is not None and header.dtype.kind == "f" else None
    if compressed or dtype is not None:
        check_voxel_stream(path, compressed=compressed, start=0, data_offset=header.vox_offset,
                           data_bytes=header.data_bytes, dtype=dtype)
    elif path.stat().st_size < header.vox_offset + header.data_bytes:
        raise LivsegInputError(f"is truncated: the header promises "
                               f"{header.vox_offset + header.data_bytes} bytes of image, the "
                               f"file holds {path.stat().st_size}", path)
