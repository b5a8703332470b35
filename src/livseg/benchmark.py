"""The benchmark every model choice is made on: the whole ``livseg predict`` cascade run on
each validation volume of a patient split (and on test cases, reported apart), scored as
LiTS scores, one row per volume and the mean, as Markdown and JSON.

Each case goes through :func:`livseg.predict.predict_file` (read, cascade, clean-up, write),
and the written ``segmentation.nii.gz`` is scored against the reference with
:func:`livseg.metrics.evaluate_volumes`. With k-fold cross-validation each fold's volumes
are scored with that fold's models, and the rows of all folds are pooled into one
out-of-fold table: the table every choice is made on.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from livseg.errors import LivsegInputError
from livseg.infer import Cascade
from livseg.io.labels import read_label_map
from livseg.io.pairs import lits_pairs, single_pair
from livseg.metrics import Confusion, LesionCounts, mean_of_defined
from livseg.metrics.cases import evaluate_volumes
from livseg.metrics.lesion_size import SIZE_CLASSES, RecallBySize
from livseg.metrics.overlap import dice
from livseg.splits import Split

log = logging.getLogger(__name__)

#: Row figures: (key, Markdown title, digits).
COLUMNS = (("liver_dice", "liver Dice", 3), ("liver_assd_mm", "liver ASSD mm", 2),
           ("liver_hd95_mm", "liver HD95 mm", 1), ("tumour_dice", "tumour Dice", 3),
           ("n_reference", "lesions", 0), ("n_predicted", "found", 0),
           ("recall_iou50", "recall IoU>0.5", 3), ("precision_iou50", "precision IoU>0.5", 3),
           ("f1_iou50", "F1 IoU>0.5", 3), ("recall_any", "recall any", 3),
           ("precision_any", "precision any", 3), ("f1_any", "F1 any", 3),
           ("false_lesions", "false lesions", 0), ("tumour_burden_error", "burden error", 4),
           ("tumour_ml_reference", "tumour ml", 1), ("tumour_ml", "found ml", 1),
           ("tumour_rvd", "RVD", 3))
#: The group that pools every fold's rows (each volume scored by the fold that held it out).
OUT_OF_FOLD = "out-of-fold"
#: Volume agreement (RVD) is summarised over the volumes with at least this much tumour:
#: below it a lesion of a few voxels more or less is a large relative difference.
RVD_MIN_ML = 5.0


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
    result = evaluate_volumes(prediction, reference, case.name)
    lesions = result.lesions.rates()
    precision, recall = lesions["precision_any"], lesions["recall_any"]
    tumour = result.confusions["tumour"]
    reference_ml = tumour.n_reference * reference.voxel_volume_ml
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
        "tumour_ml_reference": round(reference_ml, 3),
        # signed, (found - reference) / reference; none for a tumour-free volume
        "tumour_rvd": result.structures["tumour"]["rvd"] if tumour.n_reference else None,
        "tumour_confusion": asdict(tumour),
        "lesion_counts": asdict(result.lesions),
        "lesions_by_size": result.lesions_by_size.as_dict(),
        "notes": report["input"]["notes"],
        "seconds": round(time.perf_counter() - started, 2),
    }


def summarise(rows: list[dict]) -> dict:
    """Means over ``rows`` (per case), the pooled figures (global tumour Dice, lesion
    detection and recall by size over all lesions), volume agreement, and false lesions per
    tumour-free volume."""
    if not rows:
        return {"n_cases": 0}
    means = {key: mean_of_defined([row[key] for row in rows]) for key, _, _ in COLUMNS}
    free = [row["false_lesions"] for row in rows if row["tumour_free"]]
    with_tumour = [row for row in rows if not row["tumour_free"]]
    counted = [row["tumour_rvd"] for row in with_tumour
               if row["tumour_ml_reference"] >= RVD_MIN_ML]
    tumour = sum((Confusion(**row["tumour_confusion"]) for row in rows), Confusion(0, 0, 0, 0))
    lesions = sum((LesionCounts(**row["lesion_counts"]) for row in rows),
                  LesionCounts(0, 0, 0, 0, 0, 0))
    by_size = sum((RecallBySize.from_dict(row["lesions_by_size"]) for row in rows),
                  RecallBySize.empty())
    return {"n_cases": len(rows), **means,
            "liver_dice_min": min(row["liver_dice"] for row in rows),
            # LiTS's "Dice per case" above counts a tumour-free volume as 1 (nothing found)
            # or 0; issue 17's bar is the mean over the volumes that hold tumour
            "tumour_dice_with_tumour": mean_of_defined([r["tumour_dice"] for r in with_tumour]),
            "tumour_dice_global": dice(tumour),
            "tumour_volumes": len(with_tumour),
            "tumour_free_volumes": len(free),
            "false_lesions_per_tumour_free_volume": mean_of_defined(free),
            "rvd_min_ml": RVD_MIN_ML,
            "volumes_over_rvd_min_ml": len(counted),
            "rvd_median": float(np.median(counted)) if counted else None,
            "abs_rvd_mean": float(np.mean(np.abs(counted))) if counted else None,
            "rvd_median_with_tumour": float(np.median([r["tumour_rvd"] for r in with_tumour]))
            if with_tumour else None,
            "lesions_pooled": lesions.rates(),
            "lesions_by_size": by_size.as_dict()}


def run_benchmark(cases: list[BenchmarkCase], out_dir: Path, cascade: Cascade,
                  log_line=None) -> dict:
    """Every case through the cascade; the JSON document (rows, and a summary per group)."""
    rows = score_cases(cases, out_dir, cascade, log_line)
    return {"models": cascade_models(cascade), "tta": cascade.settings.tta, "rows": rows,
            "summary": summaries(rows)}


def run_cross_validation(folds: list[list[BenchmarkCase]], out_dir: Path,
                         cascade_of_fold, log_line=None) -> dict:
    """Each fold's cases through the cascade of that fold (``cascade_of_fold(i)``); the
    document holds every row, a summary per fold and the pooled out-of-fold summary."""
    rows, models = [], []
    for fold, cases in enumerate(folds):
        cascade = cascade_of_fold(fold)
        models.append({"fold": fold, "models": cascade_models(cascade)})
        rows += score_cases(cases, out_dir, cascade, log_line)
    summary = {OUT_OF_FOLD: summarise(rows)} | summaries(rows)
    return {"models": models, "tta": cascade.settings.tta, "rows": rows, "summary": summary}


def score_cases(cases: list[BenchmarkCase], out_dir: Path, cascade: Cascade,
                log_line=None) -> list[dict]:
    rows = []
    for case in cases:
        rows.append(score_case(case, Path(out_dir) / "cases", cascade))
        if log_line:
            log_line(f"{case.name} ({case.group}): liver Dice {rows[-1]['liver_dice']:.3f}, "
                     f"tumour Dice {rows[-1]['tumour_dice']:.3f}")
    return rows


def summaries(rows: list[dict]) -> dict:
    groups = list(dict.fromkeys(row["group"] for row in rows))
    return {group: summarise([r for r in rows if r["group"] == group]) for group in groups}


def cascade_models(cascade: Cascade) -> list[dict]:
    return [stage.info() for stage in (cascade.liver, cascade.tumour) if stage is not None]


def format_markdown(document: dict) -> str:
    """One table per group, a row per volume and the mean, then the group's pooled and
    volume-agreement figures; with folds, the out-of-fold table of every volume and one line
    per fold instead of a table per fold."""
    lines, summaries_ = [], document["summary"]
    folded = OUT_OF_FOLD in summaries_
    for group, summary in summaries_.items():
        if folded and group.startswith("fold "):
            continue
        rows = [r for r in document["rows"] if group == OUT_OF_FOLD or r["group"] == group]
        lines += _volume_table(group, summary, rows, with_group=group == OUT_OF_FOLD)
        lines += _summary_lines(summary)
    if folded:
        lines += _fold_table(summaries_)
    tta = (" Flip test-time augmentation." if document.get("tta") else
           " Without test-time augmentation (--no-tta).")
    return "\n".join(lines + [f"Models: {_models_line(document['models'])}.{tta}", ""])


def _volume_table(group: str, summary: dict, rows: list[dict], with_group: bool) -> list[str]:
    first = ["volume", *(["fold"] if with_group else [])]
    lines = [f"### {group} ({summary['n_cases']} volumes)", "",
             "| " + " | ".join(first + [title for _, title, _ in COLUMNS]) + " |",
             "|---" * (len(COLUMNS) + len(first)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join([row["case"], *([row["group"]] if with_group else [])]
                                       + [_cell(row[key], digits) for key, _, digits in COLUMNS])
                     + " |")
    lines.append("| **mean** | " + "| " * (len(first) - 1) + " | ".join(
        _cell(summary[key], digits if digits else 1) for key, _, digits in COLUMNS) + " |")
    return lines


def _summary_lines(summary: dict) -> list[str]:
    free, pooled = summary["false_lesions_per_tumour_free_volume"], summary["lesions_pooled"]
    lines = ["", f"- Lowest liver Dice {summary['liver_dice_min']:.3f}.",
             f"- Tumour Dice per case over the {summary['tumour_volumes']} volumes with tumour "
             f"{_cell(summary['tumour_dice_with_tumour'], 3)}; global tumour Dice (all "
             f"voxels pooled) {_cell(summary['tumour_dice_global'], 3)}.",
             f"- Tumour volume, signed RVD (found - reference) / reference over the "
             f"{summary['volumes_over_rvd_min_ml']} volumes with at least "
             f"{summary['rvd_min_ml']:g} ml of tumour: median {_percent(summary['rvd_median'])}"
             f", mean |RVD| {_percent(summary['abs_rvd_mean'])}; median over every volume "
             f"with tumour {_percent(summary['rvd_median_with_tumour'])}.",
             f"- Lesions pooled over all volumes: {pooled['n_reference']} reference, "
             f"{pooled['n_predicted']} found; F1 at IoU > 0.5 {pooled['f1_iou50']:.3f} "
             f"(recall {pooled['recall_iou50']:.3f}, precision {pooled['precision_iou50']:.3f}"
             f"); false lesions per tumour-free volume {_cell(free, 1)} "
             f"({summary['tumour_free_volumes']} tumour-free volumes).", "",
             "| longest axial diameter | lesions | recall IoU > 0.5 | recall any overlap |",
             "|---|---|---|---|"]
    for name, low, high in SIZE_CLASSES:
        figures = summary["lesions_by_size"][name]
        title = f"under {high:g} mm" if low == 0 else (
            f"over {low:g} mm" if high == float("inf") else f"{low:g}-{high:g} mm")
        lines.append(f"| {title} | {figures['n_reference']} | "
                     f"{_cell(figures['recall_iou50'], 3)} | {_cell(figures['recall_any'], 3)} |")
    return lines + [""]


def _fold_table(summaries_: dict) -> list[str]:
    lines = ["### each fold", "", "| fold | volumes | liver Dice | lowest liver Dice | "
             "tumour Dice (with tumour) | global tumour Dice | lesion F1 IoU > 0.5 (pooled) | "
             "median RVD | false lesions per tumour-free volume |", "|---" * 9 + "|"]
    for group, summary in summaries_.items():
        if group.startswith("fold "):
            lines.append(
                f"| {group[5:]} | {summary['n_cases']} | {_cell(summary['liver_dice'], 3)} | "
                f"{_cell(summary['liver_dice_min'], 3)} | "
                f"{_cell(summary['tumour_dice_with_tumour'], 3)} | "
                f"{_cell(summary['tumour_dice_global'], 3)} | "
                f"{summary['lesions_pooled']['f1_iou50']:.3f} | "
                f"{_percent(summary['rvd_median'])} | "
                f"{_cell(summary['false_lesions_per_tumour_free_volume'], 1)} |")
    return lines + [""]


def _models_line(models: list[dict]) -> str:
    def named(stages: list[dict]) -> str:
        return ", ".join(f"{m['stage']} {m['file']} ({m['sha256'][:12]})" for m in stages)

    if models and "fold" in models[0]:
        return "; ".join(f"fold {m['fold']}: {named(m['models'])}" for m in models)
    return named(models)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f} %"


def group_picture(document: dict, group: str, out_dir: Path) -> Path | None:
    """``tumour_volumes_GROUP.png``: found against reference tumour volume for the group's
    volumes (every fold's for the out-of-fold group); None when none holds tumour."""
    from livseg.viz.volume_agreement import volume_agreement_figure

    if group.startswith("fold ") and OUT_OF_FOLD in document["summary"]:
        return None  # the pooled picture shows them all
    rows = [r for r in document["rows"] if group == OUT_OF_FOLD or r["group"] == group]
    name = "tumour_volumes_" + "".join(c if c.isalnum() else "_" for c in group) + ".png"
    return volume_agreement_figure(rows, Path(out_dir) / name,
                                   f"tumour volume, {group} ({len(rows)} volumes)")


def _cell(value, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
