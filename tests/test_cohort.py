"""``livseg predict DIR -o OUT`` over a cohort (issue 19): good CTs, a bad file and a DICOM
series; a summary row per case; a run killed half-way and resumed; shards for job arrays."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livseg.cli import main
from livseg.cohort import SUMMARY_COLUMNS, cohort_cases, shard_of
from livseg.errors import LivsegInputError
from livseg.io import write_volume
from livseg.io.dicom_write import write_dicom_series
from livseg.phantom import make_phantom


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """a.nii.gz, b.mha, c (a DICOM series), d.nii.gz (random bytes), e.nii.gz."""
    folder = tmp_path_factory.mktemp("cohort")
    for seed, name in enumerate(("a.nii.gz", "b.mha", "c", "e.nii.gz")):
        ct = make_phantom(shape=(10, 80, 80), spacing=(4.0, 4.0, 12.0), n_tumours=1,
                          seed=seed).ct
        if name == "c":
            write_dicom_series(ct, folder / "c")
        else:
            write_volume(ct, folder / name)
    (folder / "d.nii.gz").write_bytes(os.urandom(3000))
    return folder


def _summary(out: Path) -> dict[str, dict]:
    with open(out / "summary.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert rows and tuple(rows[0]) == SUMMARY_COLUMNS
    return {row["case"]: row for row in rows}


@pytest.mark.slow
def test_a_cohort_carries_on_past_a_bad_case_and_sums_up(cohort, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(cohort), "-o", str(out)]) == 2
    rows = _summary(out)
    assert sorted(rows) == ["a", "b", "c", "d", "e"]
    assert {name: row["status"] for name, row in rows.items()} == {
        "a": "done", "b": "done", "c": "done", "d": "failed", "e": "done"}
    assert "d.nii.gz" in rows["d"]["error"] and rows["a"]["error"] == ""
    assert float(rows["c"]["liver_ml"]) > 100 and len(rows["c"]["liver_model_sha256"]) == 64
    assert float(rows["a"]["seconds"]) > 0 and int(rows["a"]["lesion_count"]) >= 0
    assert (out / "c" / "segmentation.nii.gz").is_file() and not (out / "d").exists()
    assert "4 done, 0 already done, 1 failed" in capsys.readouterr().out
    # resumed: the done cases are skipped, the failed one is tried again
    assert main(["predict", str(cohort), "-o", str(out)]) == 2
    assert "0 done, 4 already done, 1 failed" in capsys.readouterr().out
    # --overwrite redoes them
    (out / "a" / "report.json").write_text('{"not": "a report"}')
    assert main(["predict", str(cohort), "-o", str(out), "--overwrite", "--shard", "0/5"]) == 0
    assert _summary(out)["a"]["status"] == "done"


@pytest.mark.slow
def test_a_run_killed_half_way_resumes_where_it_stopped(cohort, tmp_path, capsys):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "livseg", "predict", str(cohort), "-o", str(out)]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / "a" / "report.json").exists() and run.poll() is None:
        assert time.monotonic() < deadline, "the first case never finished"
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    finished = {p.parent.name for p in out.glob("*/report.json")}
    assert "a" in finished
    for folder in out.iterdir():  # what a case left is complete or absent
        if folder.is_dir() and not folder.name.startswith("."):
            assert (folder / "report.json").exists() or not any(folder.iterdir())
    assert main(["predict", str(cohort), "-o", str(out)]) == 2  # resumed, in this process
    assert f"{4 - len(finished)} done, {len(finished)} already done, 1 failed" in \
        capsys.readouterr().out
    assert [row["status"] for row in _summary(out).values()] == [
        "done", "done", "done", "failed", "done"]


def test_shards_split_a_cohort_without_overlap(cohort, tmp_path, capsys):
    cases = cohort_cases(cohort)
    parts = [shard_of(cases, (index, 3)) for index in range(3)]
    assert sorted(c.name for part in parts for c in part) == [c.name for c in cases]
    out = tmp_path / "out"
    assert main(["predict", str(cohort), "-o", str(out), "--shard", "1/3"]) == 0  # b, e
    rows = _summary(out)
    assert [name for name, row in rows.items() if row["status"] == "done"] == ["b", "e"]
    assert rows["a"]["status"] == "pending" and rows["d"]["status"] == "pending"
    assert main(["predict", str(cohort), "-o", str(out), "--shard", "0/3"]) == 2  # a, d
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(SystemExit):
            main(["predict", str(cohort), "-o", str(out), "--shard", bad])
    assert "--shard" in capsys.readouterr().err


def test_the_output_folder_inside_the_cohort_is_no_case(cohort, tmp_path):
    assert "out" not in [c.name for c in cohort_cases(cohort, cohort / "out")]
    twice = tmp_path / "twice"
    twice.mkdir()
    (twice / "x.nii.gz").write_bytes(b"1")
    (twice / "x.mha").write_bytes(b"1")
    assert main(["predict", str(twice), "-o", str(tmp_path / "o")]) == 2


def test_which_folders_are_cohorts(tmp_path):
    from livseg.cohort import is_cohort

    def folder(name, files=(), subfolders=()):
        path = tmp_path / name
        path.mkdir()
        for file in files:
            (path / file).write_bytes(b"x")
        for sub in subfolders:
            (path / sub).mkdir()
        return path

    assert is_cohort(folder("images", files=["a.nii.gz", "b.dcm"]))
    assert is_cohort(folder("series", subfolders=["s1", "s2"]))
    assert not is_cohort(folder("one_series", files=["1.dcm", "2.dcm"]))
    assert not is_cohort(folder("study", subfolders=["s1"]))
    assert not is_cohort(folder("dicomdir", files=["DICOMDIR"], subfolders=["s1", "s2"]))


@pytest.mark.parametrize("names", [("summary.csv.nii.gz", "a.nii.gz"),
                                   ("y.nii.gz", "y.error.txt/")])
def test_a_case_whose_output_takes_the_place_of_the_summary_is_refused(tmp_path, names):
    """Regression: a case named summary.csv.nii.gz, or a folder y.error.txt beside
    y.nii.gz, stopped summary.csv from being written (after the whole run)."""
    folder = tmp_path / "cohort"
    folder.mkdir()
    for name in names:
        if name.endswith("/"):
            (folder / name).mkdir()
            (folder / name / "1.dcm").write_bytes(b"x")
        else:
            (folder / name).write_bytes(b"1")
    with pytest.raises(LivsegInputError, match="take the place"):
        cohort_cases(folder)
    assert main(["predict", str(folder), "-o", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_staging_left_by_a_killed_run_goes_even_for_a_done_case(tmp_path):
    from livseg.cohort import CohortCase, run_cohort

    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    (out / "a" / "report.json").write_text("{}")
    leftovers = [out / ".a.x1y2z3", out / ".a.old.k9j8h7"]
    for leftover in leftovers:
        leftover.mkdir()
    (out / ".ab.q1w2e3").mkdir()  # another case's, which this run does not own
    counts = run_cohort([CohortCase("a", tmp_path / "a.nii.gz")], out, lambda *_: {},
                        log=lambda line: None)
    assert counts["skipped"] == 1
    assert not any(leftover.exists() for leftover in leftovers)
    assert (out / ".ab.q1w2e3").exists()
