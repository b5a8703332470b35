"""Writing files so that they appear only when complete (JSON, CSV, folders); checksums."""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from livseg.errors import LivsegInputError


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) that replaces ``path`` on success.

    On any error the temporary file is removed and ``path`` is left as it was, so readers
    only ever see a complete file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix,
                                         dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` so that it appears only when complete."""
    with atomic_output(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, document: object) -> Path:
    return write_text_atomic(path, json.dumps(document, indent=2, allow_nan=False) + "\n")


def write_csv(path: str | Path, rows: list[dict], fieldnames: list[str] | None = None) -> Path:
    """``rows`` as CSV; ``fieldnames`` (default: the first row's keys) also head an empty one."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames or (list(rows[0]) if rows else []))
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


@contextlib.contextmanager
def staged_folder(path: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``path`` that becomes ``path`` on success (replacing a
    previous one); on any error it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(staging, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_writable_folder(folder: Path, needed_bytes: int = 0) -> None:
    """Refuse, before any work, an output folder that cannot be created or written, or
    whose disk has less than ``needed_bytes`` free."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise LivsegInputError(f"cannot be created: {existing} is not a folder", folder)
    try:
        with tempfile.NamedTemporaryFile(prefix=".livseg-write-check-", dir=existing):
            pass
    except OSError as error:
        raise LivsegInputError(f"cannot be written ({error.strerror or error})",
                               folder) from None
    free = shutil.disk_usage(existing).free
    if free < needed_bytes:
        raise LivsegInputError(f"has {free / 2**20:.0f} MB free on its disk; the results need "
                               f"about {needed_bytes / 2**20:.0f} MB", folder)


def output_bytes_estimate(voxels: int) -> int:
    """Room the results of a CT of ``voxels`` voxels may take: the label map uncompressed
    (its worst case), the pictures and a margin."""
    return voxels + 32 * 2**20
