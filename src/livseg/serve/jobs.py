"""Segmentation jobs of the web app: a bounded queue, worker threads, a time to live.

A job owns one folder: ``input/`` (the upload), ``out/`` (what ``predict_file`` writes,
all or nothing) and ``ct.nii.gz`` (the CT as read at upload, for the viewer). Jobs wait
in a queue of
bounded length (a full queue refuses new jobs, the server itself stays responsive); a
worker's failure marks its job failed and the worker goes on. Finished jobs' folders are
deleted after ``ttl_s``. A server killed without its clean-up leaves its folders behind;
the next server deletes them when it starts (:func:`jobs_root`).
"""
from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from livseg.errors import LivsegInputError
from livseg.io.limits import UPLOAD_LIMITS, ReadLimits

log = logging.getLogger(__name__)

DOWNLOADS = ("segmentation.nii.gz", "report.json", "overlay.png", "liver.stl", "tumour.stl")
_JOB_FOLDER = re.compile(r"[0-9a-f]{32}")
_RUN_FOLDER = re.compile(r"run-(\d+)-\w+")


def jobs_root(jobs_dir: Path | None = None) -> Path:
    """The folder of this server's jobs, with what earlier servers left there deleted.

    ``jobs_dir`` given: its job folders (from a previous run: this server knows none of
    them) are deleted. Otherwise a new ``run-PID-*`` folder under one folder per user in
    the temporary directory; the ``run-*`` folders of servers no longer running go.
    """
    if jobs_dir is not None:
        root = Path(jobs_dir)
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.iterdir():
            if stale.is_dir() and _JOB_FOLDER.fullmatch(stale.name):
                shutil.rmtree(stale, ignore_errors=True)
        return root
    base = Path(tempfile.gettempdir()) / f"livseg-serve-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    if base.is_symlink() or base.stat().st_uid != os.getuid():  # not ours: no clean-up
        return Path(tempfile.mkdtemp(prefix="livseg-serve-"))
    for stale in base.iterdir():
        match = _RUN_FOLDER.fullmatch(stale.name)
        if match and not _running(int(match.group(1))):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=base))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class QueueFull(Exception):
    """More jobs are waiting than the queue holds."""


@dataclass
class Job:
    id: str
    folder: Path
    input: Path  # a file or a DICOM folder inside folder/input
    status: str = "queued"  # queued | running | done | failed
    progress: float = 0.0
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def public(self) -> dict:
        return {"id": self.id, "status": self.status, "progress": round(self.progress, 3),
                "error": self.error,
                "files": [name for name in DOWNLOADS if (self.folder / "out" / name).exists()]
                if self.status == "done" else []}


class JobStore:
    """Jobs by id, run by ``workers`` threads with one shared cascade."""

    def __init__(self, root: Path, cascade_factory, workers: int = 1, max_queued: int = 8,
                 ttl_s: float = 3600.0, mesh: str | None = "stl",
                 limits: ReadLimits = UPLOAD_LIMITS):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._cascade_factory = cascade_factory
        self._cascade = None
        self._cascade_lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=max_queued)
        self._max_queued, self._arriving = max_queued, 0
        self.ttl_s, self.mesh, self.limits = ttl_s, mesh, limits
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, name=f"livseg-worker-{n}",
                                          daemon=True) for n in range(max(1, workers))]
        self._threads.append(threading.Thread(target=self._sweep, name="livseg-ttl",
                                              daemon=True))
        for thread in self._threads:
            thread.start()

    def new_folder(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        (folder / "input").mkdir(parents=True)
        return job_id, folder

    @contextlib.contextmanager
    def admission(self):
        """A place in the queue held while an upload arrives and is checked: raises
        QueueFull at once, before any of the upload is read, when the queue and the uploads
        under way would hold more than the queue's length."""
        with self._lock:
            if self._queue.qsize() + self._arriving >= self._max_queued:
                raise QueueFull
            self._arriving += 1
        try:
            yield
        finally:
            with self._lock:
                self._arriving -= 1

    def submit(self, job: Job) -> Job:
        with self._lock:
            self.jobs[job.id] = job
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            with self._lock:
                del self.jobs[job.id]
            shutil.rmtree(job.folder, ignore_errors=True)
            raise QueueFull from None
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self.jobs.get(job_id)

    def close(self) -> None:
        self._stop.set()

    def cascade(self):
        with self._cascade_lock:
            if self._cascade is None:
                self._cascade = self._cascade_factory()
            return self._cascade

    def _work(self) -> None:
        from livseg.predict import predict_file

        while not self._stop.is_set():
            try:
                job = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            job.status = "running"
            try:
                predict_file(job.input, job.folder / "out", self.cascade(), mesh=self.mesh,
                             limits=self.limits,
                             progress=lambda step, fraction, job=job: self._progress(
                                 job, step, fraction))
                job.progress, job.status = 1.0, "done"
            except LivsegInputError as error:
                job.status, job.error = "failed", str(error)
            except Exception as error:  # one job's bug must not stop the server
                log.exception("job %s failed", job.id)
                job.status, job.error = "failed", f"internal error: {type(error).__name__}"
            finally:
                job.finished = time.time()
                self._queue.task_done()

    @staticmethod
    def _progress(job: Job, step: str, fraction: float) -> None:
        job.progress = 0.05 + 0.9 * (0.7 * fraction if step == "liver" else
                                     0.7 + 0.3 * fraction)

    def _sweep(self) -> None:
        while not self._stop.wait(min(60.0, max(self.ttl_s / 4, 0.05))):
            self.expire()

    def expire(self, now: float | None = None) -> int:
        """Delete finished jobs older than the time to live; returns how many."""
        now = time.time() if now is None else now
        with self._lock:
            old = [job for job in self.jobs.values()
                   if job.finished is not None and now - job.finished > self.ttl_s]
            for job in old:
                del self.jobs[job.id]
        for job in old:
            shutil.rmtree(job.folder, ignore_errors=True)
        return len(old)
