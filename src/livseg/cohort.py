"""Many CTs in one folder (issue 19): resumable, shardable runs of ``predict_file`` and the
cohort's ``summary.csv``.

Every case's outcome lives in OUT, so that any number of runs, one after another or side by
side on other machines, need no coordinator:
- a case is done when ``OUT/<case>/report.json`` exists (its folder appears only complete);
- a case failed when ``OUT/<case>.error.txt`` holds its one-line error (removed when a later
  run succeeds).
A run skips the cases already done (unless ``overwrite``), retries the failed ones, takes
only its shard (``shard=(i, n)``: every n-th case from the i-th, 0-based) and, at its end,
rewrites ``OUT/summary.csv`` from what OUT holds for every case of the cohort: a row per
case, ``pending`` for those no run has finished yet. The last shard to end writes it whole.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from livseg.errors import LivsegInputError, printable
from livseg.io.files import case_name, image_suffix
from livseg.io.text import write_csv, write_text_atomic

SUMMARY_COLUMNS = ("case", "status", "error", "liver_ml", "tumour_ml", "burden_percent",
                   "lesion_count", "largest_lesion_ml", "seconds", "liver_model_sha256",
                   "tumour_model_sha256")


@dataclass(frozen=True)
class CohortCase:
    name: str
    path: Path  # an image file or a DICOM series folder


def is_cohort(folder: Path) -> bool:
    """A folder of cases rather than one DICOM input: it holds an image file (NIfTI, NRRD,
    MHA), or no file but several subfolders (one series each). A folder of DICOM files, or
    with a single subfolder (a study holding its series), is one DICOM input."""
    entries = [path for path in Path(folder).iterdir() if not path.name.startswith(".")]
    if any(path.is_file() and image_suffix(path) is not None for path in entries):
        return True
    return not any(path.is_file() for path in entries) and sum(
        path.is_dir() for path in entries) >= 2


def cohort_cases(folder: Path, output: Path | None = None) -> list[CohortCase]:
    """The cases of a cohort folder, sorted by name: each image file (NIfTI, NRRD, MHA) and
    each subfolder (a DICOM series), but not the ``output`` folder when it lies inside.
    Two inputs with one name are refused."""
    cases = []
    for path in sorted(Path(folder).iterdir()):
        if path.name.startswith(".") or output is not None and path.resolve() == Path(
                output).resolve():
            continue
        if path.is_dir():
            cases.append(CohortCase(path.name, path))
        elif path.is_file() and image_suffix(path) is not None:
            cases.append(CohortCase(case_name(path), path))
    names = [case.name for case in cases]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise LivsegInputError(f"holds two inputs named {twice[0]!r} (their outputs would "
                               "share a folder); rename one", folder)
    taken = {"summary.csv"} | {error_file(Path(), case).name for case in cases}
    clash = next((case for case in cases if case.name in taken), None)
    if clash is not None:
        raise LivsegInputError(f"holds an input named {clash.path.name!r}, whose output "
                               f"{clash.name!r} would take the place of the cohort's "
                               f"summary.csv or of an error file; rename it", folder)
    return cases


def shard_of(cases: list[CohortCase], shard: tuple[int, int] | None) -> list[CohortCase]:
    """Every n-th case from the i-th (``shard=(i, n)``, 0 <= i < n); all without a shard."""
    if shard is None:
        return cases
    index, count = shard
    return cases[index::count]


def is_done(out: Path, case: CohortCase) -> bool:
    return (out / case.name / "report.json").is_file()


def error_file(out: Path, case: CohortCase) -> Path:
    return out / f"{case.name}.error.txt"


def run_cohort(cases: list[CohortCase], out: Path, predict: Callable[[Path, Path], dict], *,
               overwrite: bool = False, log: Callable[[str], None] = print) -> dict:
    """``predict(input, case_out)`` on each case not done yet (every one with
    ``overwrite``), carrying on past bad input; returns counts of done, skipped, failed."""
    counts = {"done": 0, "skipped": 0, "failed": 0}
    for case in cases:
        _remove_leftovers(out, case)
        if is_done(out, case) and not overwrite:
            counts["skipped"] += 1
            continue
        try:
            report = predict(case.path, out / case.name)
        except LivsegInputError as error:
            counts["failed"] += 1
            write_text_atomic(error_file(out, case), f"{error}\n")
            log(printable(f"livseg: error: {error}"))
            continue
        error_file(out, case).unlink(missing_ok=True)
        counts["done"] += 1
        log(printable(f"{case.name}: liver {report['liver_volume_ml']:.1f} ml, tumour "
                      f"{report['tumour_volume_ml']:.1f} ml in {report['lesion_count']} "
                      f"lesion(s); {report['seconds']['total']:.1f} s -> {out / case.name}/"))
    return counts


def _remove_leftovers(out: Path, case: CohortCase) -> None:
    """The staging folders a killed run left for this case (``.<case>.*``, and
    ``.<case>.old.*`` of a replaced output; never seen as output): only this run works on
    this case, done or not, so they are nobody's."""
    import shutil

    prefix = f".{case.name}."
    for leftover in out.iterdir() if out.is_dir() else ():
        rest = leftover.name[len(prefix):].removeprefix("old.")  # mkdtemp's: no dot
        if leftover.name.startswith(prefix) and rest and "." not in rest and leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


def summary_rows(cases: list[CohortCase], out: Path) -> list[dict]:
    """One row per case of the cohort (SUMMARY_COLUMNS), from what ``out`` holds."""
    rows = []
    for case in cases:
        row = dict.fromkeys(SUMMARY_COLUMNS, "") | {"case": case.name, "status": "pending"}
        if is_done(out, case):
            row |= _report_row(json.loads((out / case.name / "report.json").read_text()))
        elif error_file(out, case).is_file():
            row |= {"status": "failed",
                    "error": error_file(out, case).read_text(encoding="utf-8").strip()}
        rows.append(row)
    return rows


def write_summary(cases: list[CohortCase], out: Path) -> Path:
    """``out/summary.csv``, replaced whole (readers never see half of it)."""
    return write_csv(out / "summary.csv", summary_rows(cases, out))


def _report_row(report: dict) -> dict:
    models = {model["stage"]: model["sha256"] for model in report.get("models", [])}
    lesions = report.get("lesions", [])
    return {"status": "done", "liver_ml": report["liver_volume_ml"],
            "tumour_ml": report["tumour_volume_ml"],
            "burden_percent": report["tumour_burden_percent"],
            "lesion_count": report["lesion_count"],
            "largest_lesion_ml": max((lesion["volume_ml"] for lesion in lesions), default=0.0),
            "seconds": report["seconds"].get("total", ""),
            "liver_model_sha256": models.get("liver", ""),
            "tumour_model_sha256": models.get("tumour", "")}
