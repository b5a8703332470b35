"""`livseg` in a fresh process, with its exit code, stderr, wall time and peak memory.

The peak (``ru_maxrss``) of a forked child includes the pages it shared with its parent
until it exec'd, so a child of a large test process would seem large. The command is
therefore started by a small Python process, whose own child it is, and which reports
that child's peak on its last line of stdout.
"""
from __future__ import annotations

import subprocess
import sys
import time

_WRAPPER = """
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-m", "livseg", *sys.argv[1:]])
_, status, usage = os.wait4(child.pid, 0)
print(f"PEAK {usage.ru_maxrss * 1024}", flush=True)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_livseg(args: list[str], preexec=None) -> tuple[int, str, float, int]:
    """Exit code, stderr, seconds (start to exit) and peak resident bytes of
    ``livseg ARGS``; ``preexec`` runs in the process before it starts (limits, privileges)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *args], capture_output=True,
                          text=True, preexec_fn=preexec, check=False)
    seconds = time.perf_counter() - started
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    peak = int(last.split()[1]) if last.startswith("PEAK ") else -1
    return done.returncode, done.stderr, seconds, peak
