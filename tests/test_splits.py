"""The patient split: one file, read by training and the benchmark; no patient on both
sides, other sources of a validation patient kept out of training."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from livseg.errors import LivsegInputError
from livseg.splits import patient_of, read_split

from .conftest import shared_file

ROOT = Path(__file__).resolve().parents[1]
SPLIT = ROOT / "configs" / "splits" / "lits_vol256.json"


def _write(tmp_path, **document) -> Path:
    path = tmp_path / "split.json"
    path.write_text(json.dumps(document))
    return path


def test_masks_hold_out_the_validation_patients_of_every_source(tmp_path):
    split = read_split(_write(tmp_path, train=["lits4"], validation=["lits0"],
                              folds=[["lits0"], ["lits4"]]))
    ids = np.array(["lits0", "lits0", "lits4", "10000", "10004", "10099", "phantom1",
                    "lits0~synth0", "lits4~synth0"])
    train, validation = split.masks(ids)
    assert validation.tolist() == [True, True, False, False, False, False, False, False, False]
    # 10000 is a lits_slices_256 slice of patient lits0, lits0~synth0 a synthetic copy of
    # lits0: in neither set
    assert train.tolist() == [False, False, True, False, True, True, True, False, True]
    train, validation = split.masks(ids, fold=1)
    assert validation.tolist() == [False, False, True, False, False, False, False, False, False]
    assert train.tolist() == [True, True, False, True, False, True, True, True, False]
    assert patient_of("10007") == "lits7" and patient_of("lits7") == "lits7"
    assert patient_of("lits7~synth1") == "lits7" and patient_of("10007~synth0") == "lits7"


def test_bad_splits_are_refused(tmp_path):
    with pytest.raises(LivsegInputError, match="both train and validation"):
        read_split(_write(tmp_path, train=["a", "b"], validation=["b"]))
    with pytest.raises(LivsegInputError, match="two folds"):
        read_split(_write(tmp_path, train=["a"], validation=["b"], folds=[["a"], ["a"]]))
    with pytest.raises(LivsegInputError, match="not a split file"):
        read_split(_write(tmp_path, train=["a"]))
    split = read_split(_write(tmp_path, train=["a"], validation=["b"], folds=[["a"]]))
    with pytest.raises(LivsegInputError, match="fold 3 does not exist"):
        split.validation_cases(3)
    with pytest.raises(LivsegInputError, match="does not hold: b"):
        split.masks(np.array(["a", "c"]))


def test_the_shipped_split_is_by_patient_with_every_tumour_size_and_a_healthy_liver():
    split = read_split(SPLIT)
    document = json.loads(SPLIT.read_text())
    stats = document["volumes"]
    assert len(split.validation) == 6 and len(split.train) == 20
    assert set(split.train).isdisjoint(split.validation)
    assert set(split.train) | set(split.validation) == set(stats)
    tumour_ml = sorted(stats[c]["tumour_ml"] for c in split.validation)
    assert tumour_ml[0] == 0  # a tumour-free liver
    assert tumour_ml[1] < 5 and tumour_ml[-1] > 100  # small and large tumours
    folds = [case for fold in split.folds for case in fold]
    assert sorted(folds) == sorted(c for c in stats if stats[c]["liver_ml"] > 0)


@pytest.mark.slow
def test_the_split_file_is_what_its_tool_makes_from_the_data(tmp_path):
    folder = shared_file("lits_vol256")
    out = tmp_path / "split.json"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "make_split.py"), str(folder),
                           str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == json.loads(SPLIT.read_text())
