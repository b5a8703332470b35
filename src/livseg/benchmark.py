"""The benchmark every model choice is made on: the whole ``livseg predict`` cascade run on
each validation volume of a patient split (and on test cases, reported apart), scored as
LiTS scores, one row per volume and the mean, as Markdown and JSON.

Each case goes through :func:`livseg.predict.predict_file` (read, cascade, clean-up, write),
and the written ``segmentation.nii.gz`` is scored against the reference with
:func:`livseg.metrics.evaluate_case`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from livseg.errors import LivsegInputError
from livseg.infer import Cascade
from livseg.io.labels import read_label_map
from livseg.io.pairs import lits_pairs, single_pair
from livseg.metrics import evaluate_case, mean_of_defined
from livseg.splits import Split

log = logging.getLogger(__name__)

#: Row figures: (key, Markdown title, digits).
COLUMNS = (("liver_dice", "liver Dice", 3), ("liver_assd_mm", "liver ASSD mm", 2),
           ("liver_hd95_mm", "liver HD95 mm", 1), ("tumour_dice", "tumour Dice", 3),
           ("n_reference", "lesions", 0), ("n_predicted", "found", 0),
           ("recall_iou50", "recall IoU>0.5", 3), ("precision_iou50", "precision IoU>0.5", 3),
           ("f1_iou50", "F1 IoU>0.5", 3), ("recall_any", "recall any", 3),
           ("precision_any", "precision any", 3), ("f1_any", "F1 any", 3),
           ("false_lesions", "false lesions", 0), ("tumour_burden_error", "burden error", 4))


@dataclass(frozen=True)
class BenchmarkCase:
    name: str
    ct: Path
    reference: Path
    group: str  # "validation", "train", "fold I" or "test"


def split_cases(split: Split, folder: Path, subset: str = "validation",
                fold: int | None = None) -> list[BenchmarkCase]:
    """The cases of ``split`` (its validation volumes, a fold's, or its training volumes)
    found in the LiTS-layout ``folder``."""
    names = split.train if subset == "train" else split.validation_cases(fold)
    group = subset if fold is None else f"fold {fold}"
    pairs = {case: (ct, labels) for case, ct, labels in lits_pairs(folder)}
    missing = [name for name in names if name not in pairs]
    if missing:
        raise LivsegInputError(f"holds none of {', '.join(missing)}, which {split.path} names",
                               folder)
    return [BenchmarkCase(name, *pairs[name], group) for name in names]


def test_cases(paths: list[Path]) -> list[BenchmarkCase]:
    """Test cases: folders holding ``volume.nii.gz`` + ``segmentation.nii.gz``, or LiTS
    folders (every pair in them)."""
    cases = []
    for path in paths:
        pairs = lits_pairs(path) or [p for p in [single_pair(path)] if p is not None]
        if not pairs:
            raise LivsegInputError("holds no volume + segmentation pair (volume.nii.gz and "
                                   "segmentation.nii.gz, or volume-N/segmentation-N)", path)
        cases += [BenchmarkCase(name, ct, labels, "test") for name, ct, labels in pairs]
    return cases


def score_case(case: BenchmarkCase, out_dir: Path, cascade: Cascade) -> dict:
    """Run the predict cascade on one case into ``out_dir/NAME`` and score it."""
    from livseg.predict import predict_file

    started = time.perf_counter()
    report = predict_file(case.ct, out_dir / case.name, cascade, overwrite=True)
    prediction = read_label_map(out_dir / case.name / "segmentation.nii.gz")
    reference = read_label_map(case.reference)
    if not prediction.same_grid(reference, tolerance=1e-3):
        raise LivsegInputError(f"lies on another grid than its CT {case.ct}", case.reference)
    result = evaluate_case(prediction.array, reference.array, reference.spacing_zyx, case.name)
    lesions = result.lesions.rates()
    precision, recall = lesions["precision_any"], lesions["recall_any"]
    return {
        "case": case.name, "group": case.group,
        "liver_dice": result.structures["liver"]["dice"],
        "liver_assd_mm": result.structures["liver"]["assd_mm"],
        "liver_hd95_mm": result.structures["liver"]["hd95_mm"],
        "tumour_dice": result.structures["tumour"]["dice"],
        **lesions,
        "f1_any": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "false_lesions": result.lesions.n_predicted - result.lesions.predicted_matched_any,
        "tumour_burden_error": result.tumour_burden_error,
        "tumour_free": result.lesions.n_reference == 0,
        "liver_ml": report["liver_volume_ml"], "tumour_ml": report["tumour_volume_ml"],
        "notes": report["input"]["notes"],
        "seconds": round(time.perf_counter() - started, 2),
    }


def summarise(rows: list[dict]) -> dict:
    """Means over ``rows`` (per case), and false lesions per tumour-free volume."""
    if not rows:
        return {"n_cases": 0}
    means = {key: mean_of_defined([row[key] for row in rows]) for key, _, _ in COLUMNS}
    free = [row["false_lesions"] for row in rows if row["tumour_free"]]
    with_tumour = [row["tumour_dice"] for row in rows if not row["tumour_free"]]
    return {"n_cases": len(rows), **means,
            "liver_dice_min": min(row["liver_dice"] for row in rows),
            # LiTS's "Dice per case" above counts a tumour-free volume as 1 (nothing found)
            # or 0; issue 17's bar is the mean over the volumes that hold tumour
            "tumour_dice_with_tumour": mean_of_defined(with_tumour),
            "tumour_volumes": len(with_tumour),
            "tumour_free_volumes": len(free),
            "false_lesions_per_tumour_free_volume": mean_of_defined(free)}


def run_benchmark(cases: list[BenchmarkCase], out_dir: Path, cascade: Cascade,
                  log_line=None) -> dict:
    """Every case through the cascade; the JSON document (rows, and a summary per group)."""
    rows = []
    for case in cases:
        rows.append(score_case(case, Path(out_dir) / "cases", cascade))
        if log_line:
            log_line(f"{case.name} ({case.group}): liver Dice {rows[-1]['liver_dice']:.3f}, "
                     f"tumour Dice {rows[-1]['tumour_dice']:.3f}")
    groups = list(dict.fromkeys(row["group"] for row in rows))
    return {"models": cascade_models(cascade), "tta": cascade.settings.tta, "rows": rows,
            "summary": {group: summarise([r for r in rows if r["group"] == group])
                        for group in groups}}


def cascade_models(cascade: Cascade) -> list[dict]:
    return [stage.info() for stage in (cascade.liver, cascade.tumour) if stage is not None]


def format_markdown(document: dict) -> str:
    """One table per group: a row per volume, then the mean."""
    lines = []
    for group, summary in document["summary"].items():
        lines += [f"### {group} ({summary['n_cases']} volumes)", "",
                  "| volume | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
                  "|---" * (len(COLUMNS) + 1) + "|"]
        for row in (r for r in document["rows"] if r["group"] == group):
            lines.append(f"| {row['case']} | " + " | ".join(
                _cell(row[key], digits) for key, _, digits in COLUMNS) + " |")
        lines.append("| **mean** | " + " | ".join(
            _cell(summary[key], digits if digits else 1) for key, _, digits in COLUMNS) + " |")
        free = summary["false_lesions_per_tumour_free_volume"]
        lines += ["", f"Lowest liver Dice {summary['liver_dice_min']:.3f}; tumour Dice over "
                      f"the {summary['tumour_volumes']} volumes with tumour: "
                      f"{_cell(summary['tumour_dice_with_tumour'], 3)}; false lesions per "
                      f"tumour-free volume: {_cell(free, 1)} ({summary['tumour_free_volumes']} "
                      "tumour-free volumes).", ""]
    models = ", ".join(f"{m['stage']} {Path(m['file']).name} ({m['sha256'][:12]})"
                       for m in document["models"])
    tta = (" Flip test-time augmentation." if document.get("tta") else
           " Without test-time augmentation (--no-tta).")
    return "\n".join(lines + [f"Models: {models}.{tta}", ""])


def _cell(value, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
