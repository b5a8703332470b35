"""Running ``livseg train`` in a child process on phantoms: the tiny recipe the training
tests share, and reading what a run left."""
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


def livseg_child(*args, wait=True):
    command = [sys.executable, "-m", "livseg", *map(str, args)]
    if wait:
        return subprocess.run(command, capture_output=True, text=True, timeout=600)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def metrics_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as stream:
        return list(csv.DictReader(stream))
