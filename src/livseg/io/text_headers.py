"""Checks of NRRD and MetaImage files from their text headers, before ITK reads them.

Both formats may keep their voxels in another file named by the header (NRRD ``data file``,
MetaImage ``ElementDataFile``), which ITK follows anywhere on the machine: a header naming
``/etc/passwd`` would read that file as an image. Here such a data file is refused in
uploads and followed elsewhere only when it lies beside the header. The declared sizes are
checked against the read limits, and an attached gzip stream (NRRD) is verified.
"""
from __future__ import annotations

import math
from pathlib import Path

from livseg.errors import LivsegInputError
from livseg.io.limits import ReadLimits, check_data_file, check_declared_size
from livseg.io.streams import check_voxel_stream

MAX_HEADER_BYTES = 1 << 16

_NRRD_TYPES = {1: ("signed char", "int8", "int8_t", "uchar", "unsigned char", "uint8",
                   "uint8_t"),
               2: ("short", "short int", "signed short", "signed short int", "int16", "int16_t",
                   "ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"),
               4: ("int", "signed int", "int32", "int32_t", "uint", "unsigned int", "uint32",
                   "uint32_t", "float"),
               8: ("longlong", "long long", "long long int", "signed long long",
                   "signed long long int", "int64", "int64_t", "ulonglong",
                   "unsigned long long", "unsigned long long int", "uint64", "uint64_t",
                   "double")}
_NRRD_ITEM_BYTES = {name: size for size, names in _NRRD_TYPES.items() for name in names}


def _header_lines(path: Path) -> tuple[list[tuple[str, int]], bytes]:
    """The first MAX_HEADER_BYTES of ``path`` as (line, offset after it) pairs."""
    with path.open("rb") as stream:
        head = stream.read(MAX_HEADER_BYTES)
    lines, offset = [], 0
    for raw in head.split(b"\n")[:-1] if b"\n" in head else []:
        offset += len(raw) + 1
        lines.append((raw.rstrip(b"\r").decode("latin-1"), offset))
    return lines, head


def _sizes(text: str, what: str, path: Path) -> list[int]:
    try:
        sizes = [int(value) for value in text.split()]
    except ValueError:
        raise LivsegInputError(f"has an unreadable {what} ({text.strip()[:40]!r})",
                               path) from None
    if not sizes:
        raise LivsegInputError(f"has an empty {what}", path)
    return sizes


def check_nrrd_file(path: Path, limits: ReadLimits) -> None:
    """Refuse a NRRD whose header declares too much, names its data elsewhere, or whose
    attached gzip data is damaged."""
    lines, _ = _header_lines(path)
    if not lines or not lines[0][0].startswith("NRRD000"):
        raise LivsegInputError("not a readable image (its first line is not NRRD000x)", path)
    fields: dict[str, str] = {}
    data_offset = None
    for line, offset in lines[1:]:
        if not line.strip():
            data_offset = offset
            break
        if line.startswith("#") or ":=" in line or ": " not in line:
            continue
        key, value = line.split(": ", 1)
        fields[key.strip().lower()] = value.strip()
    if "sizes" not in fields:
        raise LivsegInputError("has a NRRD header without 'sizes'", path)
    sizes = _sizes(fields["sizes"], "'sizes'", path)
    kinds = fields.get("kinds", "").split()
    if kinds and kinds[0] in ("vector", "RGB-color", "RGBA-color", "3-vector", "list"):
        check_declared_size(sizes[1:] or [0], path, limits, components=sizes[0])
    else:
        check_declared_size(sizes, path, limits)
    data_file = fields.get("data file", fields.get("datafile"))
    if data_file is not None:
        check_data_file(path, data_file, limits)
        return
    if data_offset is None:
        raise LivsegInputError("has a NRRD header with no end (no blank line) in its first "
                               f"{MAX_HEADER_BYTES} bytes", path)
    item = _NRRD_ITEM_BYTES.get(fields.get("type", "").lower())
    skips = fields.get("byte skip", "0") != "0" or fields.get("line skip", "0") != "0"
    if fields.get("encoding", "raw").lower() in ("gzip", "gz") and item and not skips:
        check_voxel_stream(path, compressed=True, start=data_offset, data_offset=0,
                           data_bytes=math.prod(sizes) * item, dtype=None)


def check_metaimage_file(path: Path, limits: ReadLimits) -> None:
    """Refuse a MetaImage (.mha/.mhd) whose header declares too much or names its voxel
    data anywhere but beside it."""
    lines, _ = _header_lines(path)
    fields: dict[str, str] = {}
    for line, _offset in lines:
        if "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        fields[key.lower()] = value
        if key.lower() == "elementdatafile":
            break
    if "elementdatafile" not in fields:
        raise LivsegInputError("not a readable image (no ElementDataFile line in its "
                               "MetaImage header)", path)
    if "dimsize" not in fields:
        raise LivsegInputError("has a MetaImage header without DimSize", path)
    channels = _sizes(fields.get("elementnumberofchannels", "1"), "ElementNumberOfChannels",
                      path)[0]
    check_declared_size(_sizes(fields["dimsize"], "DimSize", path), path, limits,
                        components=channels)
    data_file = fields["elementdatafile"]
    if data_file.upper() != "LOCAL":
        check_data_file(path, data_file, limits)
