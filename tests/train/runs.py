"""Running ``livseg train`` on phantoms: the tiny recipe the training tests share, in this
process or in a child (where a test must signal it), and reading what a run left."""
from __future__ import annotations

import csv
import json
import os
import signal
import sys
import time
from pathlib import Path

SHIPPED_LIVER = Path(__file__).parents[2] / "src/livseg/weights/liver_mobileunet.pt"
TINY = {"size": [64, 64], "batch_size": 4, "montage_slices": 3, "threads": 1, "lr": 0.003}


def tiny_config(tmp_path: Path, **extra) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**TINY, **extra}))
    return path


def livseg_here(*args) -> int:
    """``livseg ARGS`` in this process: torch and its optimiser's compiler are imported once
    per test worker instead of once per run (about 6 s each). Its exit code."""
    from livseg.cli import main

    return main([str(arg) for arg in args])


class ForkedLivseg:
    """``livseg ARGS`` in a forked child of this process, for a test that signals it: a
    process of its own (its own signals, its own death), without a fresh interpreter's
    imports of torch and its optimiser's compiler (about 8 s a child). Its stdout is
    dropped and its stderr kept in a file."""

    def __init__(self, args, stderr: Path):
        self.stderr_path = Path(stderr)
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns into the test
            _run_in_child([str(arg) for arg in args], self.stderr_path)

    def alive(self) -> bool:
        return self._reap(os.WNOHANG) is None

    def send_signal(self, number: int) -> None:
        os.kill(self.pid, number)

    def wait(self, timeout: float) -> int:
        """The exit code (minus the signal's number when a signal ended it), as Popen's."""
        deadline = time.monotonic() + timeout
        while (code := self._reap(os.WNOHANG)) is None:
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                self._reap(0)
                raise TimeoutError(f"livseg child {self.pid} still ran after {timeout} s")
            time.sleep(0.02)
        return code

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def _reap(self, flags: int) -> int | None:
        if hasattr(self, "code"):
            return self.code
        pid, status = os.waitpid(self.pid, flags)
        if pid == 0:
            return None
        self.code = os.waitstatus_to_exitcode(status)
        return self.code


def _run_in_child(args: list[str], stderr: Path) -> None:
    """Point fds 0-2 away from the test worker's (xdist talks over stdin and stdout),
    drop the parent's logging handlers (pytest's), run livseg, and leave without running
    anything of the parent's (atexit, pytest's teardown)."""
    import logging
    import traceback

    code = 1
    try:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
        # the child's streams until it ends (by os._exit: never closed)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        for handler in logging.root.handlers[:]:
            logging.root.removeHandler(handler)
        from livseg.cli import main

        code = main(args)
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def metrics_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as stream:
        return list(csv.DictReader(stream))
