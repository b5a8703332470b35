"""Choose the tumour stage's lesion rules (``CascadeSettings``) on held-out volumes: the
pooled out-of-fold volumes of a k-fold split, each seen by the fold model that never
trained on it (or, without --folds, the split's validation volumes and one model).

Two steps, so that the networks run once and every rule is scored on the same outputs:

  python tools/tumour_lesion_rules.py cache SPLIT LITS_FOLDER CACHE
        [--folds 'runs/cv/r1/fold{fold}/last.pt' | --tumour CKPT] [--liver CKPT]
  python tools/tumour_lesion_rules.py search CACHE [--grid KEY=V1,V2 ...] [--json OUT]
  python tools/tumour_lesion_rules.py lesions CACHE [--grid KEY=V ...] [--json OUT]
  python tools/tumour_lesion_rules.py shortfall CACHE
  python tools/tumour_lesion_rules.py misses CACHE [--grid KEY=V ...]

``cache`` runs each volume as ``livseg predict`` does (canonical orientation, the liver
stage, its clean-up) and keeps, per volume, the liver, the reference and the tumour
stage's probability with and without flip test-time augmentation on the liver's box grown
by ``CACHE_Z_MARGIN_MM`` across slices (so that the tumour box's reach in z can be chosen
too). ``search`` scores every rule of the grid through ``Cascade.lesions`` (the code
``predict`` runs) and prints the pooled table, best first. ``lesions`` lists every lesion
one rule finds, with its HU, spread, contrast and whether it touches a reference lesion
(to measure whether a rule such as "water-like and homogeneous" separates the false ones).
``shortfall`` measures where the stage under-segments: the share of reference tumour
voxels above each probability, by depth inside the lesion (its rim or its core) and by
lesion size. ``misses`` says, for each reference lesion one rule does not find at IoU > 0.5,
why: not touched, drawn too small or too large, split into pieces, or merged with another
lesion. Never run it on a test case.
"""
from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from livseg.benchmark import split_cases
from livseg.errors import LivsegInputError
from livseg.infer import Cascade, CascadeSettings
from livseg.infer.anatomy_check import body_frame
from livseg.infer.postprocess import clean_liver
from livseg.infer.stage import CANVAS_MODES
from livseg.io import read_volume
from livseg.metrics.lesions import LesionCounts, lesion_counts
from livseg.metrics.overlap import Confusion, dice
from livseg.preprocess import BoundingBox, mask_bbox, to_canonical
from livseg.splits import read_split

CACHE_Z_MARGIN_MM = 30.0
#: The rules tried by default; ``--grid KEY=V1,V2`` replaces one setting's values (``none``
#: for None), e.g. a finer search around the best of a first pass.
GRID = {
    "tta": (True, False),
    "tta_uncertain_above": (0.01,),
    "roi_z_margin_mm": (10.0, 30.0),
    "tumour_threshold": (0.4, 0.5, 0.6),
    "grow_threshold": (None, 0.2),
    "min_lesion_mm3": (100.0,),
    "min_lesion_probability": (0.0, 0.8),
    "min_share_near_liver": (0.5,),
    "max_lesion_contrast_hu": (None, -15.0),
    "grown_away_from_liver": ("drop",),
}
#: Settings whose values are words, not numbers.
WORDS = {"grown_away_from_liver"}
#: Volume agreement counts over volumes with at least this much tumour (as the benchmark).
RVD_MIN_ML = 5.0


def cache_case(cascade: Cascade, case, fold: int | None, out: Path) -> None:
    canonical = to_canonical(read_volume(case.ct))[0]
    reference = to_canonical(read_volume(case.reference))[0].array
    hu, spacing = canonical.array, canonical.spacing_zyx
    raw, _, _ = cascade.oriented_liver(hu, body_frame(hu), None, spacing[0])
    liver = clean_liver(raw)
    margin = cascade.settings.roi_margin_mm
    roi = mask_bbox(liver, spacing, (CACHE_Z_MARGIN_MM, margin, margin))
    arrays = {"truth": reference == 2, "spacing": np.asarray(spacing),
              "fold": np.asarray(-1 if fold is None else fold),
              "voxel_ml": np.asarray(canonical.voxel_volume_ml)}
    if roi is not None:
        for tta in (False, True):
            stage = Cascade(cascade.liver, cascade.tumour,
                            replace(cascade.settings, tta=tta, tta_uncertain_above=None))
            arrays[f"probability_tta{int(tta)}"] = stage.tumour_probability(
                hu[roi.slices], spacing, roi_liver=liver[roi.slices])
        arrays |= {"roi_start": np.asarray(roi.start), "roi_stop": np.asarray(roi.stop),
                   "hu": hu[roi.slices].astype(np.int16), "liver": liver[roi.slices]}
    np.savez_compressed(out / f"{case.name}.npz", **arrays)


def cache(args: argparse.Namespace) -> None:
    split = read_split(args.split)
    out = Path(args.cache)
    out.mkdir(parents=True, exist_ok=True)
    folds = ([int(f) for f in args.only_folds.split(",")] if args.only_folds else
             range(len(split.folds))) if args.folds else [None]
    for fold in folds:
        tumour = args.folds.format(fold=fold) if args.folds else args.tumour
        cascade = Cascade.shipped(liver_path=args.liver, tumour_path=tumour)
        if args.tumour_canvas:
            cascade.settings = replace(cascade.settings, tumour_canvas=args.tumour_canvas)
        for case in split_cases(split, Path(args.folder), fold=fold):
            if not (out / f"{case.name}.npz").exists():
                cache_case(cascade, case, fold, out)
                print(f"cached {case.name} (fold {fold})", flush=True)


def parse_grid(overrides: list[str]) -> dict[str, tuple]:
    grid = dict(GRID)
    for item in overrides:
        key, _, values = item.partition("=")
        if key not in grid:
            raise SystemExit(f"--grid: unknown setting {key!r} (use {', '.join(grid)})")
        grid[key] = tuple(None if v == "none" else (v == "true") if key == "tta"
                          else v if key in WORDS else float(v) for v in values.split(","))
    return grid


def rules(grid: dict[str, tuple]) -> list[CascadeSettings]:
    found = []
    for values in itertools.product(*grid.values()):
        try:
            found.append(CascadeSettings(**dict(zip(grid, values, strict=True))))
        except LivsegInputError:  # growth at or above the seed threshold: not a rule
            continue
    return found


def case_scores(path: Path, grid: list[CascadeSettings], cascade: Cascade) -> list[dict]:
    """Per rule: the tumour confusion, lesion counts and volumes of one cached volume."""
    data = dict(np.load(path))
    truth, spacing = data["truth"], tuple(data["spacing"])
    reference_ml = float(truth.sum() * data["voxel_ml"])
    rows = []
    for settings in grid:
        tumour = np.zeros(truth.shape, bool)
        if "liver" in data:
            cascade.settings = settings
            start = np.asarray(data["roi_start"])
            box = cascade.tumour_box(data["liver"], spacing)
            inner = box.slices
            probability = _probability(data, settings)[inner]
            found = cascade.lesions(probability, data["hu"][inner], data["liver"][inner],
                                    spacing)
            where = BoundingBox(tuple(start + box.start), tuple(start + box.stop))
            tumour[where.slices] = found
        rows.append({"confusion": Confusion.of(tumour, truth),
                     "lesions": lesion_counts(tumour, truth),
                     "reference_ml": reference_ml,
                     "found_ml": float(tumour.sum() * data["voxel_ml"])})
    return rows


def _probability(data: dict, settings: CascadeSettings) -> np.ndarray:
    """The cached tumour probability the rule sees: without test-time augmentation, with
    it, or with it only on the slices whose first pass exceeds ``tta_uncertain_above``
    (as ``Stage.probability`` does; here on the box's grid, in uint8)."""
    if not settings.tta:
        return data["probability_tta0"]
    if settings.tta_uncertain_above is None:
        return data["probability_tta1"]
    first = data["probability_tta0"]
    unsure = first.reshape(len(first), -1).max(axis=1) > 255 * settings.tta_uncertain_above
    return np.where(unsure[:, None, None], data["probability_tta1"], first)


def pooled(per_case: list[dict]) -> dict:
    with_tumour = [r for r in per_case if r["reference_ml"] > 0]
    free = [r for r in per_case if r["reference_ml"] == 0]
    rvd = [(r["found_ml"] - r["reference_ml"]) / r["reference_ml"] for r in with_tumour
           if r["reference_ml"] >= RVD_MIN_ML]
    lesions = sum((r["lesions"] for r in per_case), LesionCounts(0, 0, 0, 0, 0, 0))
    return {
        "tumour_dice": float(np.mean([dice(r["confusion"]) for r in with_tumour])),
        "tumour_dice_global": dice(sum((r["confusion"] for r in per_case),
                                       Confusion(0, 0, 0, 0))),
        "f1_iou50": float(np.mean([r["lesions"].rates()["f1_iou50"] for r in per_case])),
        "f1_iou50_pooled": lesions.rates()["f1_iou50"],
        "rvd_median": float(np.median(rvd)) if rvd else None,
        "false_lesions_tumour_free": float(np.mean(
            [r["lesions"].n_predicted - r["lesions"].predicted_matched_any for r in free]))
        if free else None,
    }


def per_volume(paths: list[Path], per_case: list[dict]) -> list[dict]:
    """One rule's figures on each volume (``paths`` and ``per_case`` in the same order)."""
    return [{"volume": path.stem, "reference_ml": round(r["reference_ml"], 3),
             "found_ml": round(r["found_ml"], 3), "tumour_dice": round(dice(r["confusion"]), 4),
             "reference_lesions": r["lesions"].n_reference,
             "found_lesions": r["lesions"].n_predicted,
             "found_iou50": r["lesions"].predicted_matched_iou50,
             "false_lesions": r["lesions"].n_predicted - r["lesions"].predicted_matched_any}
            for path, r in zip(paths, per_case, strict=True)]


def search(args: argparse.Namespace) -> None:
    grid = rules(parse_grid(args.grid))
    paths = sorted(Path(args.cache).glob("*.npz"))
    cascade = Cascade(None, None)
    table = [[] for _ in grid]
    for path in paths:
        for index, row in enumerate(case_scores(path, grid, cascade)):
            table[index].append(row)
        print(f"scored {path.stem}", flush=True)
    rows = [{**asdict(settings), **pooled(per_case), "per_volume": per_volume(paths, per_case)}
            for settings, per_case in zip(grid, table, strict=True)]
    # the bars: false lesions <= 0.5 per tumour-free volume, then Dice + F1
    rows.sort(key=lambda r: ((r["false_lesions_tumour_free"] or 0) > 0.5,
                             -(r["tumour_dice"] + r["f1_iou50"])))
    keys = list(GRID)
    print(f"{len(paths)} volumes | " + " ".join(keys) + " | tumour Dice per case | global | "
          "F1 IoU>0.5 per case | pooled | median RVD >= 5 ml | false lesions per tumour-free")
    for r in rows[:args.top]:
        print(" ".join(str(r[k]) for k in keys) + f" | {r['tumour_dice']:.3f} | "
              f"{r['tumour_dice_global']:.3f} | {r['f1_iou50']:.3f} | "
              f"{r['f1_iou50_pooled']:.3f} | {r['rvd_median']:+.3f} | "
              f"{r['false_lesions_tumour_free']}")
    if rows:
        print("per volume, the first rule: volume | reference ml | found ml | tumour Dice | "
              "reference lesions | found | found at IoU>0.5 | false lesions")
        for v in rows[0]["per_volume"]:
            print(f"{v['volume']} | {v['reference_ml']:.2f} | {v['found_ml']:.2f} | "
                  f"{v['tumour_dice']:.3f} | {v['reference_lesions']} | {v['found_lesions']} | "
                  f"{v['found_iou50']} | {v['false_lesions']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"cache": args.cache, "volumes": [
            p.stem for p in paths], "rows": rows}, indent=1))


def found_lesions(path: Path, settings: CascadeSettings) -> list[dict]:
    """Each lesion ``settings`` finds in one cached volume: its figures and whether it
    touches a reference lesion."""
    from scipy import ndimage

    from livseg.infer.lesions import lesion_contrast

    data = dict(np.load(path))
    if "liver" not in data:
        return []
    spacing = tuple(data["spacing"])
    cascade = Cascade(None, None, settings)
    box = cascade.tumour_box(data["liver"], spacing)
    probability = _probability(data, settings)[box.slices]
    hu, liver = data["hu"][box.slices], data["liver"][box.slices]
    tumour = cascade.lesions(probability, hu, liver, spacing)
    start = np.asarray(data["roi_start"]) + box.start
    truth = data["truth"][tuple(slice(a, a + n) for a, n in zip(start, tumour.shape,
                                                              strict=True))]
    labels, count = ndimage.label(tumour, np.ones((3, 3, 3), bool))
    rows = []
    for index in range(1, count + 1):
        voxels = np.argwhere(labels == index)
        figures = lesion_contrast(hu, liver & ~tumour, voxels, spacing)
        rows.append({"case": path.stem, "volume_ml": len(voxels) * float(data["voxel_ml"]),
                     "mean_hu": figures.mean_hu, "sd_hu": figures.sd_hu,
                     "p10_hu": figures.p10_hu, "p90_hu": figures.p90_hu,
                     "contrast_hu": figures.contrast_hu,
                     "mean_probability": float(probability[labels == index].mean()) / 255,
                     "true": bool(truth[labels == index].any())})
    return rows


def lesions(args: argparse.Namespace) -> None:
    grid = rules(parse_grid(args.grid))
    if len(grid) != 1:
        raise SystemExit("lesions: give one rule (--grid KEY=V for each setting to change)")
    rows = [row for path in sorted(Path(args.cache).glob("*.npz"))
            for row in found_lesions(path, grid[0])]
    print("case | ml | mean HU | sd | p10 | p90 | contrast | mean p | touches reference")
    for r in sorted(rows, key=lambda r: (r["true"], r["mean_hu"])):
        contrast = "-" if r["contrast_hu"] is None else f"{r['contrast_hu']:.0f}"
        print(f"{r['case']} | {r['volume_ml']:.2f} | {r['mean_hu']:.0f} | {r['sd_hu']:.0f} | "
              f"{r['p10_hu']:.0f} | {r['p90_hu']:.0f} | {contrast} | "
              f"{r['mean_probability']:.2f} | {r['true']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rule": asdict(grid[0]), "lesions": rows},
                                              indent=1))


DEPTH_BINS_MM = ((0.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 16.0), (16.0, float("inf")))
LEVELS = (0.2, 0.3, 0.4, 0.5, 0.6)


def shortfall(args: argparse.Namespace) -> None:
    """Reference tumour voxels reached by the stage's probability (flip-averaged), pooled
    over the cached volumes, by depth inside their lesion and by their lesion's volume."""
    from scipy import ndimage

    by_depth = np.zeros((len(DEPTH_BINS_MM), 1 + len(LEVELS)))
    by_size = {}
    for path in sorted(Path(args.cache).glob("*.npz")):
        data = dict(np.load(path))
        if "liver" not in data or not data["truth"].any():
            continue
        box = tuple(slice(a, b) for a, b in zip(data["roi_start"], data["roi_stop"],
                                                strict=True))
        truth, probability = data["truth"][box], data["probability_tta1"]
        depth = ndimage.distance_transform_edt(truth, sampling=tuple(data["spacing"]))
        # depth of a voxel centre from the lesion's surface: half a voxel at the edge
        for row, (low, high) in enumerate(DEPTH_BINS_MM):
            selected = probability[truth & (depth > low) & (depth <= high)]
            by_depth[row] += [selected.size, *((selected > 255 * v).sum() for v in LEVELS)]
        lesions, count = ndimage.label(truth, np.ones((3, 3, 3), bool))
        for index in range(1, count + 1):
            selected = probability[lesions == index]
            ml = selected.size * float(data["voxel_ml"])
            size = "< 1 ml" if ml < 1 else "1-10 ml" if ml < 10 else "10-100 ml" if ml < 100 \
                else ">= 100 ml"
            total = by_size.setdefault(size, np.zeros(1 + len(LEVELS)))
            total += [selected.size, *((selected > 255 * v).sum() for v in LEVELS)]
        outside = int(data["truth"].sum() - truth.sum())
        if outside:
            print(f"{path.stem}: {outside} reference tumour voxels outside the cached box")
    head = " | ".join(f"p > {v}" for v in LEVELS)
    print(f"depth inside the lesion (mm) | voxels | {head}")
    for (low, high), row in zip(DEPTH_BINS_MM, by_depth, strict=True):
        print(f"{low:g}-{high:g} | {int(row[0])} | " + " | ".join(
            f"{v / max(row[0], 1):.3f}" for v in row[1:]))
    print(f"lesion volume | voxels | {head}")
    for size in ("< 1 ml", "1-10 ml", "10-100 ml", ">= 100 ml"):
        if size in by_size:
            row = by_size[size]
            print(f"{size} | {int(row[0])} | " + " | ".join(
                f"{v / max(row[0], 1):.3f}" for v in row[1:]))


def lesion_misses(path: Path, settings: CascadeSettings) -> list[dict]:
    """Each reference lesion of one cached volume against what ``settings`` finds: its best
    IoU, the volume found of it, and how many found lesions touch it and it shares."""
    from livseg.metrics.lesions import label_lesions, overlap_matrix

    data = dict(np.load(path))
    truth = data["truth"]
    tumour = np.zeros(truth.shape, bool)
    if "liver" in data:
        spacing = tuple(data["spacing"])
        cascade = Cascade(None, None, settings)
        box = cascade.tumour_box(data["liver"], spacing)
        found = cascade.lesions(_probability(data, settings)[box.slices],
                                data["hu"][box.slices], data["liver"][box.slices], spacing)
        start = np.asarray(data["roi_start"]) + box.start
        tumour[tuple(slice(a, a + n) for a, n in zip(start, found.shape, strict=True))] = found
    reference, n_reference = label_lesions(truth)
    predicted, n_predicted = label_lesions(tumour)
    matrix = overlap_matrix(reference, n_reference, predicted, n_predicted)
    ref_sizes, pred_sizes = matrix.sum(axis=1)[1:], matrix.sum(axis=0)[1:]
    rows = []
    for r in range(n_reference):
        shared = matrix[r + 1, 1:]
        union = ref_sizes[r] + pred_sizes - shared
        iou = np.where(shared > 0, shared / np.maximum(union, 1), 0.0)
        touching = np.flatnonzero(shared)
        best = int(np.argmax(iou)) if touching.size else None
        if best is None:
            why = "not touched"
        elif iou[best] > 0.5:
            why = "found"
        elif (matrix[1:, best + 1] > 0).sum() > 1:
            why = "merged"
        elif touching.size > 1:
            why = "split"
        else:
            why = "too small" if pred_sizes[best] < ref_sizes[r] else "too large"
        rows.append({"case": path.stem, "ml": float(ref_sizes[r] * data["voxel_ml"]),
                     "best_iou": float(iou[best]) if best is not None else 0.0,
                     "found_of_it": float(shared.sum() / ref_sizes[r]),
                     "found_ml": float(pred_sizes[best] * data["voxel_ml"])
                     if best is not None else 0.0,
                     "pieces": int(touching.size), "why": why})
    return rows


def misses(args: argparse.Namespace) -> None:
    grid = rules(parse_grid(args.grid))
    if len(grid) != 1:
        raise SystemExit("misses: give one rule (--grid KEY=V for each setting to change)")
    rows = [row for path in sorted(Path(args.cache).glob("*.npz"))
            for row in lesion_misses(path, grid[0])]
    print("case | reference ml | best IoU | share of it found | best match ml | pieces | why")
    for r in sorted(rows, key=lambda r: (r["why"], r["ml"])):
        print(f"{r['case']} | {r['ml']:.2f} | {r['best_iou']:.2f} | {r['found_of_it']:.2f} | "
              f"{r['found_ml']:.2f} | {r['pieces']} | {r['why']}")
    reasons = sorted({r["why"] for r in rows})
    print("why | lesions | of them >= 1 ml")
    for why in reasons:
        some = [r for r in rows if r["why"] == why]
        print(f"{why} | {len(some)} | {sum(r['ml'] >= 1 for r in some)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    first = steps.add_parser("cache")
    first.add_argument("split")
    first.add_argument("folder")
    first.add_argument("cache")
    first.add_argument("--folds", help="fold models, e.g. runs/cv/r1/fold{fold}/last.pt")
    first.add_argument("--only-folds", help="with --folds: these folds only, e.g. 0,1")
    first.add_argument("--tumour")
    first.add_argument("--liver")
    first.add_argument("--tumour-canvas", choices=CANVAS_MODES,
                       help="which tumour passes see the box centred on the training size "
                            "(CascadeSettings.tumour_canvas; default: the cascade's)")
    second = steps.add_parser("search")
    second.add_argument("cache")
    second.add_argument("--json")
    second.add_argument("--top", type=int, default=40)
    second.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2")
    third = steps.add_parser("lesions")
    third.add_argument("cache")
    third.add_argument("--json")
    third.add_argument("--grid", action="append", default=[], metavar="KEY=V")
    fourth = steps.add_parser("shortfall")
    fourth.add_argument("cache")
    fifth = steps.add_parser("misses")
    fifth.add_argument("cache")
    fifth.add_argument("--grid", action="append", default=[], metavar="KEY=V")
    args = parser.parse_args()
    {"cache": cache, "search": search, "lesions": lesions, "shortfall": shortfall,
     "misses": misses}[args.step](args)


if __name__ == "__main__":
    main()
