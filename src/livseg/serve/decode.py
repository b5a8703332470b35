"""An upload's first read, in a process of its own with a memory and a time limit.

The web app reads each upload once before it queues a job (a file that is no CT in HU is
refused at upload, with its name). That read decodes untrusted bytes with ITK, GDCM and
zlib; done in the server's own process, one upload could take all its memory or hang it.
Here it runs in a child forked from a clean, single-threaded fork server (multiprocessing's
``forkserver``, the readers imported there once, so a child starts in milliseconds), whose
address space is capped (``RLIMIT_AS``) and which is killed when it overruns its time. The
child also writes the CT as read (``ct.nii.gz``) for the page's viewer.
"""
from __future__ import annotations

import multiprocessing
import resource
from pathlib import Path

from livseg.io.limits import ReadLimits

#: Memory an upload's read may take beyond what the child starts with: a CT at the voxel
#: budget (2^28 int16 voxels, 512 MB) read once by ITK and once as an array, and a margin.
DECODE_MEMORY_BYTES = 3 * 2**30
DECODE_SECONDS = 120.0
_PRELOAD = ["numpy", "SimpleITK", "pydicom", "livseg.io.files", "livseg.io.dicom",
            "livseg.io.hu_check", "livseg.serve.uploads"]
_context = None


class DecodeFailed(Exception):
    """The read ran out of memory or time, or crashed: ``message`` says which."""


def _forkserver():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(_PRELOAD)
    return _context


def _virtual_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(connection, memory_bytes: int, files: list[Path], folder: Path, limit: int,
           limits: ReadLimits, viewer_ct: Path) -> None:
    """Read the upload under a cap of ``memory_bytes`` more than the child holds now; send
    back ("ok", 0, source), ("upload", status, message) or ("memory", 0, "")."""
    from livseg.serve.uploads import UploadError, prepare_input

    cap = _virtual_bytes() + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        answer = ("ok", 0, str(prepare_input(files, folder, limit, limits, viewer_ct)))
    except UploadError as error:
        answer = ("upload", error.status, str(error))
    except MemoryError:
        answer = ("memory", 0, "")
    connection.send(answer)
    connection.close()


def decode_upload(files: list[Path], folder: Path, limit: int, limits: ReadLimits,
                  viewer_ct: Path, memory_bytes: int = DECODE_MEMORY_BYTES,
                  seconds: float = DECODE_SECONDS) -> Path:
    """:func:`livseg.serve.uploads.prepare_input` in a bounded child process; its
    UploadError comes back as one, an overrun as :class:`DecodeFailed`."""
    from livseg.serve.uploads import UploadError

    context = _forkserver()
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_child, daemon=True, args=(
        sending, memory_bytes, files, folder, limit, limits, viewer_ct))
    child.start()
    sending.close()
    try:
        if not receiving.poll(seconds):
            raise DecodeFailed(f"reading the upload took more than {seconds:g} s; refused")
        try:
            kind, status, message = receiving.recv()
        except EOFError:  # the child died without answering (a native abort, a kill)
            kind, status, message = "crash", 0, ""
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiving.close()
    if kind == "crash" and (child.exitcode or 0) < 0:  # killed by a signal (an abort)
        raise DecodeFailed(f"reading the upload stopped (signal {-child.exitcode}) within "
                           f"its memory limit of {memory_bytes / 2**30:g} GB; refused")
    if kind == "crash":
        raise DecodeFailed(f"reading the upload failed (exit code {child.exitcode}) within "
                           f"its memory limit of {memory_bytes / 2**30:g} GB; refused")
    if kind == "upload":
        raise UploadError(status, message)
    if kind == "memory":
        raise DecodeFailed(f"reading the upload needs more than {memory_bytes / 2**30:g} GB "
                           "of memory; refused")
    return Path(message)
