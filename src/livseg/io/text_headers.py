"""NRRD and MetaImage headers parsed strictly, checked, and written anew for ITK.

Both formats may keep their voxels in another file named by the header (NRRD ``data file``,
MetaImage ``ElementDataFile``), which ITK follows anywhere on the machine, and ITK's parsers
accept more than one spelling of a line (MetaImage takes ``key: value`` as well as
``key = value``, and the last of two repeated keys). So ITK never reads the user's header:
:func:`itk_header` parses it (both separators, a repeated key refused), checks the declared
sizes against the read limits and where the voxels lie, and writes a header of its own in a
private folder, holding only the fields it checked; the voxels are reached through a link
in that folder to the one file that was checked (the file itself, skipping its header, or a
data file beside it on the command line). An attached gzip stream (NRRD) is verified.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

from livseg.errors import LivsegInputError
from livseg.io.limits import ReadLimits, check_data_file, check_declared_size
from livseg.io.streams import check_voxel_stream

MAX_HEADER_BYTES = 1 << 16
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*")
_DATA_LINK = "voxels"

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
#: NRRD fields passed on to ITK as they are (spaces removed: teem's alternative spellings).
_NRRD_KEPT = ("type", "dimension", "space", "spacedimension", "sizes", "spacings",
              "thicknesses", "axismins", "axismaxs", "spacedirections", "centers",
              "centerings", "kinds", "spaceunits", "spaceorigin", "measurementframe",
              "endian", "encoding")
#: NRRD fields that say nothing about the voxels' place or value: dropped.
_NRRD_DROPPED = ("content", "labels", "units", "sampleunits", "min", "max", "oldmin",
                 "oldmax", "number", "blocksize")
_NRRD_LOCATION = ("datafile", "lineskip", "byteskip")
_NRRD_ENCODINGS = ("raw", "txt", "text", "ascii", "hex", "gz", "gzip", "bz2", "bzip2")
#: MetaImage fields passed on to ITK, by what they hold; aliases share one name.
_META_ALIASES = {"position": "offset", "origin": "offset", "rotation": "transformmatrix",
                 "orientation": "transformmatrix", "elementbyteordermsb":
                 "binarydatabyteordermsb"}
_META_WRITTEN = {"ndims": "NDims", "binarydata": "BinaryData",
                 "binarydatabyteordermsb": "BinaryDataByteOrderMSB",
                 "compresseddata": "CompressedData", "compresseddatasize": "CompressedDataSize",
                 "transformmatrix": "TransformMatrix", "offset": "Offset",
                 "centerofrotation": "CenterOfRotation",
                 "anatomicalorientation": "AnatomicalOrientation",
                 "elementspacing": "ElementSpacing", "dimsize": "DimSize",
                 "elementnumberofchannels": "ElementNumberOfChannels",
                 "elementtype": "ElementType"}
_META_TYPES = ("MET_CHAR", "MET_UCHAR", "MET_SHORT", "MET_USHORT", "MET_INT", "MET_UINT",
               "MET_LONG", "MET_ULONG", "MET_LONG_LONG", "MET_ULONG_LONG", "MET_FLOAT",
               "MET_DOUBLE")


def _header_lines(path: Path) -> list[tuple[str, int]]:
    """The lines of the first MAX_HEADER_BYTES of ``path`` as (line, offset after it)."""
    with path.open("rb") as stream:
        head = stream.read(MAX_HEADER_BYTES)
    lines, offset = [], 0
    for raw in head.split(b"\n")[:-1]:
        offset += len(raw) + 1
        lines.append((raw.removesuffix(b"\r").decode("latin-1"), offset))
    return lines


def _numbers(text: str, what: str, path: Path, count: int | None = None,
             kind: type = float) -> list:
    try:
        values = [kind(value) for value in text.split()]
    except ValueError:
        raise LivsegInputError(f"has an unreadable {what} ({text.strip()[:40]!r})",
                               path) from None
    if not values or (count is not None and len(values) != count) \
            or not all(math.isfinite(v) for v in values):
        shown = "" if count is None else f" ({count} numbers expected)"
        raise LivsegInputError(f"has a bad {what}: {text.strip()[:60]!r}{shown}", path)
    return values


def _put(fields: dict[str, str], key: str, value: str, path: Path) -> None:
    if key in fields:
        raise LivsegInputError(f"has a header that gives {key!r} twice", path)
    if any(ord(c) < 32 and c != "\t" for c in value):
        raise LivsegInputError(f"has a control character in its header field {key!r}", path)
    fields[key] = value.strip()


def _link_data(folder: Path, target: Path) -> str:
    """A link in ``folder`` to the voxel file that was checked; its name for the header."""
    os.symlink(target.resolve(), folder / _DATA_LINK)
    return _DATA_LINK


def itk_header(path: Path, limits: ReadLimits, folder: Path) -> Path:
    """Check the NRRD or MetaImage header of ``path`` and write the header ITK will read in
    ``folder`` (private, empty); returns it."""
    if path.name.lower().endswith((".nrrd", ".nhdr")):
        return _nrrd_header(path, limits, folder)
    return _metaimage_header(path, limits, folder)


def _nrrd_header(path: Path, limits: ReadLimits, folder: Path) -> Path:
    lines = _header_lines(path)
    if not lines or not re.fullmatch(r"NRRD000[1-5]", lines[0][0]):
        raise LivsegInputError("not a readable image (its first line is not NRRD000x)", path)
    fields: dict[str, str] = {}
    data_offset = lines_before_data = None
    for number, (line, offset) in enumerate(lines[1:], start=2):
        if not line.strip():
            data_offset, lines_before_data = offset, number
            break
        if "\r" in line:
            raise LivsegInputError(f"has a stray carriage return in NRRD header line {number}",
                                   path)
        if line.startswith("#") or (":=" in line and ": " not in line.split(":=", 1)[0]):
            continue  # comments and key/value pairs: metadata ITK needs not see
        key, separator, value = line.partition(": ")
        if not separator or not _KEY.fullmatch(key):
            raise LivsegInputError(f"has a malformed NRRD header line {number} "
                                   f"({line[:40]!r})", path)
        key = key.lower().replace(" ", "")
        if key not in (*_NRRD_KEPT, *_NRRD_DROPPED, *_NRRD_LOCATION):
            raise LivsegInputError(f"has an unknown NRRD field {key!r}", path)
        _put(fields, key, value, path)
    for required in ("type", "dimension", "sizes", "encoding"):
        if required not in fields:
            raise LivsegInputError(f"has a NRRD header without {required!r}", path)
    sizes = _numbers(fields["sizes"], "'sizes'", path, kind=int)
    if _numbers(fields["dimension"], "'dimension'", path, 1, int)[0] != len(sizes):
        raise LivsegInputError(f"has 'dimension: {fields['dimension']}' but "
                               f"{len(sizes)} 'sizes'", path)
    encoding = fields["encoding"].lower()
    if encoding not in _NRRD_ENCODINGS:
        raise LivsegInputError(f"has an unknown NRRD encoding {fields['encoding']!r}", path)
    kinds = fields.get("kinds", "").split()
    if kinds and kinds[0] in ("vector", "RGB-color", "RGBA-color", "3-vector", "list"):
        check_declared_size(sizes[1:] or [0], path, limits, components=sizes[0])
    else:
        check_declared_size(sizes, path, limits)
    written = [f"{key}: {fields[key]}" for key in _NRRD_KEPT if key in fields]
    if "datafile" in fields:
        check_data_file(path, fields["datafile"], limits)
        written.append("data file: "
                       + _link_data(folder, path.parent / fields["datafile"].strip()))
        for key, name in (("lineskip", "line skip"), ("byteskip", "byte skip")):
            if key in fields:
                skip = _numbers(fields[key], f"'{name}'", path, 1, int)[0]
                if skip < -1:
                    raise LivsegInputError(f"has a negative '{name}'", path)
                written.append(f"{name}: {skip}")
    else:
        if data_offset is None:
            raise LivsegInputError("has a NRRD header with no end (no blank line) in its "
                                   f"first {MAX_HEADER_BYTES} bytes", path)
        if "lineskip" in fields or "byteskip" in fields:
            raise LivsegInputError("has 'line skip' or 'byte skip' without a 'data file'", path)
        item = _NRRD_ITEM_BYTES.get(fields["type"].lower())
        if encoding in ("gzip", "gz") and item:
            check_voxel_stream(path, compressed=True, start=data_offset, data_offset=0,
                               data_bytes=math.prod(sizes) * item, dtype=None)
        written += [f"data file: {_link_data(folder, path)}",
                    f"line skip: {lines_before_data}"]
    header = folder / "header.nhdr"
    header.write_text("NRRD0004\n" + "\n".join(written) + "\n\n", encoding="latin-1")
    return header


def _metaimage_header(path: Path, limits: ReadLimits, folder: Path) -> Path:
    fields: dict[str, str] = {}
    data_offset = None
    for number, (line, offset) in enumerate(_header_lines(path), start=1):
        if not line.strip():
            continue
        match = re.match(r"\s*([^=:]*?)\s*[=:]", line)
        if match is None or not _KEY.fullmatch(match.group(1)):
            raise LivsegInputError(f"has a malformed MetaImage header line {number} "
                                   f"({line[:40]!r})", path)
        key = match.group(1).lower().replace(" ", "")
        _put(fields, _META_ALIASES.get(key, key), line[match.end():], path)
        if key == "elementdatafile":
            data_offset = offset
            break
    if data_offset is None:
        raise LivsegInputError("not a readable image (no ElementDataFile line in its "
                               "MetaImage header)", path)
    if "dimsize" not in fields or "elementtype" not in fields:
        raise LivsegInputError("has a MetaImage header without DimSize or ElementType", path)
    dims = _numbers(fields.get("ndims", ""), "NDims", path, 1, int)[0]
    if not 2 <= dims <= 4:
        raise LivsegInputError(f"has NDims = {dims}; livseg reads 3D volumes", path)
    sizes = _numbers(fields["dimsize"], "DimSize", path, dims, int)
    for key, what, count in (("elementspacing", "ElementSpacing", dims),
                             ("offset", "Offset", dims), ("centerofrotation",
                                                          "CenterOfRotation", dims),
                             ("transformmatrix", "TransformMatrix", dims * dims)):
        if key in fields:
            _numbers(fields[key], what, path, count)
    if fields["elementtype"] not in _META_TYPES:
        raise LivsegInputError(f"has an ElementType of {fields['elementtype'][:20]!r}", path)
    for key in ("binarydata", "binarydatabyteordermsb", "compresseddata"):
        if fields.get(key, "True") not in ("True", "False", "true", "false", "1", "0"):
            raise LivsegInputError(f"has a bad {_META_WRITTEN[key]} ({fields[key][:20]!r})",
                                   path)
    orientation = fields.get("anatomicalorientation")
    if orientation is not None and not re.fullmatch(f"[RLAPSI?]{{{dims}}}",
                                                    orientation.upper()):
        raise LivsegInputError(f"has a bad AnatomicalOrientation ({orientation[:20]!r})",
                               path)
    channels = _numbers(fields.get("elementnumberofchannels", "1"), "ElementNumberOfChannels",
                        path, 1, int)[0]
    if "compresseddatasize" in fields:
        _numbers(fields["compresseddatasize"], "CompressedDataSize", path, 1, int)
    check_declared_size(sizes, path, limits, components=channels)
    written = [f"{name} = {fields[key]}" for key, name in _META_WRITTEN.items() if key in fields]
    data_file = fields["elementdatafile"]
    if data_file.upper() == "LOCAL":
        if "headersize" in fields and _numbers(fields["headersize"], "HeaderSize", path, 1,
                                               int) != [0]:
            raise LivsegInputError("has a HeaderSize with its data inside the file", path)
        written += [f"HeaderSize = {data_offset}", f"ElementDataFile = {_link_data(folder, path)}"]
    else:
        check_data_file(path, data_file, limits)
        if "headersize" in fields:
            skip = _numbers(fields["headersize"], "HeaderSize", path, 1, int)[0]
            if skip < -1:
                raise LivsegInputError("has a negative HeaderSize", path)
            written.append(f"HeaderSize = {skip}")
        written.append("ElementDataFile = "
                       + _link_data(folder, path.parent / data_file.strip()))
    header = folder / "header.mhd"
    header.write_text("ObjectType = Image\n" + "\n".join(written) + "\n", encoding="latin-1")
    return header
