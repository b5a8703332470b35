"""Uploads as the web app receives them: streamed to disk under a size limit, and zips of
a DICOM series unpacked safely.

The multipart body is parsed as it arrives (python-multipart's streaming parser), so an
upload over the limit is refused as soon as it passes the limit, never stored whole.
Several ``file`` parts are the files of one DICOM folder; one ``.zip`` holds one.
"""
from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from livseg.errors import LivsegInputError, printable
from livseg.io.limits import ReadLimits

MAX_UNZIPPED_RATIO = 200  # a zip that inflates more than this is treated as a bomb
MAX_ZIP_MEMBERS = 10_000
MAX_UPLOAD_FILES = 10_000  # the files of one DICOM folder; more is not one CT
MAX_NAME_CHARS = 120


class UploadError(Exception):
    """A bad upload: ``status`` is the HTTP code, the message says why in one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def safe_name(name: str) -> str:
    """A file name without folders or odd characters, at most MAX_NAME_CHARS long (the
    suffix kept)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "upload"
    if len(cleaned) > MAX_NAME_CHARS:
        suffix = "".join(PurePosixPath(cleaned).suffixes)[-20:]
        cleaned = cleaned[:MAX_NAME_CHARS - len(suffix)] + suffix
    return cleaned


class _Names:
    """Unique file names in one folder, in constant time a name: a repeated ``a.dcm``
    (files of one name from different folders) becomes ``1_a.dcm``, ``2_a.dcm``, ..."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.next: dict[str, int] = {}

    def unique(self, name: str) -> str:
        candidate = name
        while candidate in self.used:
            self.next[name] = self.next.get(name, 0) + 1
            candidate = f"{self.next[name]}_{name}"
        self.used.add(candidate)
        return candidate


async def receive_files(content_type: str, body: AsyncIterator[bytes], folder: Path,
                        limit_bytes: int) -> list[Path]:
    """Write every ``file`` part of a multipart body to ``folder``; refuse (413) when the
    body passes ``limit_bytes``. Returns the written paths. The parsing and the writing
    run on a worker thread, never on the event loop, and cost the same for each part."""
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise UploadError(415, "send the CT as multipart/form-data with a field named 'file'")
    written: list[Path] = []
    state: dict = {"headers": {}, "field": b"", "stream": None}
    names = _Names()

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        key = state["field"].lower()
        state["headers"][key] = state["headers"].get(key, b"") + data[start:end]

    def on_header_end():
        state["field"] = b""

    def on_headers_finished():
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        if disposition.get(b"name") == b"file" and b"filename" in disposition:
            if len(written) >= MAX_UPLOAD_FILES:
                raise UploadError(400, f"the upload holds more than {MAX_UPLOAD_FILES} files")
            path = folder / names.unique(safe_name(
                disposition[b"filename"].decode("utf-8", "replace")))
            state["stream"] = open(path, "wb")  # noqa: SIM115 (closed in on_part_end)
            written.append(path)

    def on_part_data(data, start, end):
        if state["stream"] is not None:
            state["stream"].write(data[start:end])

    def on_part_end():
        if state["stream"] is not None:
            state["stream"].close()
        state.update(headers={}, field=b"", stream=None)

    parser = MultipartParser(options[b"boundary"], {
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data, "on_part_end": on_part_end})
    received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > limit_bytes:
                raise UploadError(413, f"the upload is larger than the limit of "
                                       f"{limit_bytes / 2**20:g} MB")
            await run_in_threadpool(parser.write, chunk)
        await run_in_threadpool(parser.finalize)
    except ValueError as error:  # python-multipart's parse errors
        raise UploadError(400, f"malformed multipart body: {error}") from None
    finally:
        if state["stream"] is not None:
            state["stream"].close()
    if not written:
        raise UploadError(400, "no file in the upload: send it in a field named 'file'")
    return written


def unpack_zip(path: Path, folder: Path, limit_bytes: int) -> Path:
    """Extract a zip of one DICOM series into ``folder``/unzipped, refusing paths that leave
    it, links, too many members, bombs (inflated size over ``limit_bytes`` or a ratio over
    MAX_UNZIPPED_RATIO) and damaged members (a bad CRC, a corrupt stream, a name too long)."""
    try:
        return _unpack_zip(path, folder / "unzipped", limit_bytes)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        raise UploadError(400, f"{path.name}: is a damaged zip file "
                               f"({getattr(error, 'strerror', None) or error})") from None


def _unpack_zip(path: Path, folder: Path, limit_bytes: int) -> Path:
    folder.mkdir()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise UploadError(400, f"{path.name}: is not a readable zip file") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            raise UploadError(400, f"{path.name}: holds {len(members)} files, more than "
                                   f"{MAX_ZIP_MEMBERS}")
        inflated = sum(m.file_size for m in members)
        packed = max(1, sum(m.compress_size for m in members))
        if inflated > limit_bytes or inflated / packed > MAX_UNZIPPED_RATIO:
            raise UploadError(400, f"{path.name}: would inflate to {inflated / 2**20:.0f} MB "
                                   f"(ratio {inflated / packed:.0f}); refused as a zip bomb")
        root = folder.resolve()
        for member in members:
            name = PurePosixPath(member.filename.replace("\\", "/"))
            target = (folder / name).resolve()
            if name.is_absolute() or ".." in name.parts or root not in target.parents:
                raise UploadError(400, f"{path.name}: member {member.filename!r} points "
                                       "outside the archive's folder")
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise UploadError(400, f"{path.name}: member {member.filename!r} is a link")
        written = 0
        for member in members:
            target = folder / PurePosixPath(member.filename.replace("\\", "/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, open(target, "wb") as sink:
                while block := source.read(1 << 20):
                    written += len(block)
                    if written > limit_bytes:  # sizes in the directory can lie
                        raise UploadError(400, f"{path.name}: inflates past "
                                               f"{limit_bytes / 2**20:.0f} MB; refused")
                    sink.write(block)
    path.unlink()
    return _series_folder(folder)


def _series_folder(folder: Path) -> Path:
    """The folder of the unpacked series: the one folder holding files."""
    holders = {p.parent for p in folder.rglob("*") if p.is_file()}
    if not holders:
        raise UploadError(400, "the zip holds no files")
    if len(holders) > 1:
        raise UploadError(400, f"the zip holds files in {len(holders)} folders; zip one "
                               "DICOM series folder")
    return holders.pop()


def prepare_input(files: list[Path], folder: Path, limit: int, limits: ReadLimits,
                  viewer_ct: Path) -> Path:
    """The case to segment: one image file, an unpacked zip, or a folder of DICOM files;
    read once here (under ``limits``) so that what is not a CT in HU is refused at upload,
    with its own name, and written to ``viewer_ct`` (the CT as read, for the viewer)."""
    from livseg.io import write_volume
    from livseg.io.hu_check import read_ct

    source = files[0] if len(files) == 1 else folder
    if len(files) == 1 and files[0].suffix.lower() == ".zip":
        source = unpack_zip(files[0], folder, limit)
    try:
        volume = read_ct(source, limits=limits)
    except LivsegInputError as error:
        shown = files[0].name if len(files) == 1 else "the uploaded folder"
        raise UploadError(400, printable(str(error).replace(str(source), shown))) from None
    write_volume(volume, viewer_ct)
    return source
