"""Checks of a NIfTI file from its header, before ITK reads it.

The header's declared size is checked against the read limits first (a 2 MB file that
declares 30000x30000 voxels is refused at once), then the voxel bytes are streamed once:
the gzip CRC and length verified, the length compared with what the header promises (ITK
fills a truncated file with zeros) and float voxels checked for NaN (ITK turns some into 0).
"""
from __future__ import annotations

import functools
import gzip
import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livseg.errors import LivsegInputError
from livseg.io.limits import ReadLimits, check_declared_size
from livseg.io.streams import check_voxel_stream

#: NIfTI datatype codes -> numpy types (the scalar ones livseg can read).
_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4",
           1024: "i8", 1280: "u8"}

#: Where the fields are: sizeof_hdr 348 (NIfTI-1) or 540 (NIfTI-2) -> name: (format, byte).
_LAYOUTS = {
    348: {"types": ("2h", 70), "dim": ("8h", 40), "pixdim": ("3f", 80), "vox_offset": ("f", 108),
          "scl": ("2f", 112), "magic": 344},
    540: {"types": ("2h", 12), "dim": ("8q", 16), "pixdim": ("3d", 112), "vox_offset": ("q", 168),
          "scl": ("2d", 176), "magic": 4},
}


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
    version: int = 1  # NIfTI-1 or NIfTI-2

    @property
    def data_bytes(self) -> int:
        return math.prod(self.size) * self.bitpix // 8

    @property
    def dtype(self) -> np.dtype | None:
        code = _DTYPES.get(self.datatype)
        return None if code is None else np.dtype(self.byte_order + code)


class NotNifti(ValueError):
    """Bytes that are no NIfTI header at all (not a damaged one)."""


#: Bits per voxel of each datatype code livseg reads.
_BITPIX = {code: np.dtype(kind).itemsize * 8 for code, kind in _DTYPES.items()}


def parse_nifti_header(header: bytes) -> NiftiHeader:
    """The fields livseg checks of a NIfTI-1 or NIfTI-2 header; ValueError naming the field
    when ``header`` is not one (its size field, its magic) or is one with an impossible
    size, type or offset. ITK's reader looks only at the magic, so a header whose size field
    is wrong is refused here rather than trusted."""
    magic_at = {348: 344, 540: 4}
    found = {bytes(header[at:at + 4]).rstrip(b"\0") for at in magic_at.values()}
    sizes = {struct.unpack(order + "i", header[:4])[0] for order in "<>"} \
        if len(header) >= 4 else {0}
    if not sizes & set(_LAYOUTS):
        magic = next((m for m in found if m in (b"n+1", b"ni1", b"n+2", b"ni2")), None)
        if magic is None:
            raise NotNifti("not a readable image (no NIfTI magic, and its first field, "
                           f"sizeof_hdr, is {min(sizes, key=abs)}, not 348)")
        raise ValueError(f"its sizeof_hdr is {min(sizes, key=abs)}; a NIfTI header with the "
                         f"magic {magic.decode()!r} has 348 (NIfTI-1) or 540 (NIfTI-2)")
    for order in "<>":
        sizeof_hdr = struct.unpack(order + "i", header[:4])[0] if len(header) >= 4 else 0
        layout = _LAYOUTS.get(sizeof_hdr)
        if layout is None or len(header) < sizeof_hdr:
            continue

        def field(name: str, header=header, order=order, layout=layout) -> tuple:
            fmt, start = layout[name]
            return struct.unpack_from(order + fmt, header, start)

        (datatype, bitpix), dims, pixdim = field("types"), field("dim"), field("pixdim")
        offset, scale = field("vox_offset")[0], field("scl")
        magic = bytes(header[layout["magic"]:layout["magic"] + 4])
        if magic not in (b"n+1\0", b"ni1\0", b"n+2\0", b"ni2\0"):
            raise ValueError(f"its magic is {magic!r}, not the NIfTI magic 'n+1'")
        n_dims = dims[0]
        if not 1 <= n_dims <= 7:
            raise ValueError(f"its number of dimensions is {n_dims}")
        if bitpix <= 0 or bitpix % 8:
            raise ValueError(f"its bits per voxel are {bitpix}")
        if datatype in _BITPIX and bitpix != _BITPIX[datatype]:
            raise ValueError(f"its datatype {datatype} has {_BITPIX[datatype]} bits per "
                             f"voxel, but bitpix says {bitpix}")
        if not math.isfinite(offset) or offset < 0:
            raise ValueError(f"its voxel data offset (vox_offset) is {offset}")
        if not all(math.isfinite(d) and d != 0 for d in pixdim[:min(n_dims, 3)]):
            raise ValueError(f"its voxel size (pixdim) is {pixdim[:n_dims]}")
        return NiftiHeader(size=tuple(int(n) for n in dims[1:n_dims + 1]),
                           pixdim=tuple(float(d) for d in pixdim), bitpix=bitpix,
                           datatype=datatype, vox_offset=int(offset),
                           scale=(float(scale[0]), float(scale[1])), byte_order=order,
                           single_file=magic in (b"n+1\0", b"n+2\0"),
                           version=1 if sizeof_hdr == 348 else 2)
    raise ValueError("it is shorter than its header size")


def check_nifti_header(path: Path, limits: ReadLimits) -> Callable[[], None] | None:
    """Raise LivsegInputError when the NIfTI ``path``'s header declares more than ``limits``
    allow or is damaged; return the scan of its voxel stream still to run, if any (a damaged
    or truncated gzip stream, a file shorter than its header says, NaN voxels): the reader
    runs it while ITK decodes."""
    compressed = path.name.lower().endswith(".gz")
    try:
        with (gzip.open(path, "rb") if compressed else path.open("rb")) as stream:
            header = parse_nifti_header(stream.read(540))
    except NotNifti as error:
        raise LivsegInputError(str(error), path) from None
    except ValueError as error:  # before OSError: gzip's errors are OSErrors, not these
        raise LivsegInputError(f"has a damaged NIfTI header: {error}", path) from None
    except gzip.BadGzipFile:
        raise LivsegInputError("is not a gzip-compressed file, though named .gz", path) from None
    except (OSError, EOFError, zlib.error) as error:
        raise LivsegInputError(f"is a damaged compressed file ({error})", path) from None
    if header.version == 2:
        raise LivsegInputError("is a NIfTI-2 file, which livseg does not read; save it as "
                               "NIfTI-1 (.nii.gz), NRRD or MHA", path)
    if not header.single_file:
        raise LivsegInputError("is a NIfTI header whose voxels are in a separate .img file; "
                               "livseg reads single-file NIfTI (.nii, .nii.gz)", path)
    check_declared_size(header.size, path, limits)
    if not all(math.isfinite(v) for v in header.scale):
        raise LivsegInputError("has a voxel scaling (scl_slope, scl_inter) that is not a "
                               "finite number", path)
    dtype = header.dtype if header.dtype is not None and header.dtype.kind == "f" else None
    if compressed or dtype is not None:
        return functools.partial(check_voxel_stream, path, compressed=compressed, start=0,
                                 data_offset=header.vox_offset, data_bytes=header.data_bytes,
                                 dtype=dtype)
    if path.stat().st_size < header.vox_offset + header.data_bytes:
        raise LivsegInputError(f"is truncated: the header promises "
                               f"{header.vox_offset + header.data_bytes} bytes of image, the "
                               f"file holds {path.stat().st_size}", path)
    return None
