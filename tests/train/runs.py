"""Running ``livseg train`` on phantoms: the tiny recipe the training tests share, in this
process or in a child (where a test must signal it), and reading what a run left."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
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


def livseg_child(*args) -> subprocess.Popen:
    """``livseg ARGS`` started in a child process, for a test that signals it."""
    command = [sys.executable, "-m", "livseg", *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def metrics_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as stream:
        return list(csv.DictReader(stream))
