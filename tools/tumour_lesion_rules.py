"""Tumour figures of a tumour stage on whole volumes under lesion rules: the probability
threshold, the share of a lesion that must lie near the liver (within the liver margin; the
lesion is then kept whole), the smallest lesion (mm³), the lowest mean probability of a
lesion, the highest contrast to the surrounding liver (HU; drops lesions brighter than
their liver), and the threshold down to which each kept lesion grows (hysteresis; None:
no growth).

Each volume goes through the cascade as ``livseg predict`` runs it (canonical orientation,
the liver stage, its clean-up, the ROI, the tumour stage once); each rule then only
filters the candidate lesions. Used to choose ``CascadeSettings`` on the validation volumes
of the split, never on a test case.

Usage: python tools/tumour_lesion_rules.py SPLIT.json LITS_FOLDER [--liver CKPT]
       [--tumour CKPT] [--json OUT]
"""
from __future__ import annotations

import argparse
import itertools
import json

import numpy as np

from livseg.benchmark import split_cases
from livseg.infer import Cascade, CascadeSettings
from livseg.infer.anatomy_check import body_frame
from livseg.infer.postprocess import (
    clean_liver,
    clean_tumours,
    grow_lesions,
    keep_lesions,
    lesion_candidates,
)
from livseg.io import read_volume
from livseg.metrics.lesions import lesion_counts
from livseg.metrics.overlap import Confusion, overlap_scores
from livseg.preprocess import mask_bbox, to_canonical
from livseg.splits import read_split

THRESHOLDS = (0.5, 0.6, 0.7, 0.8)
MIN_SHARE_NEAR_LIVER = (0.25, 0.5, 0.75)
MIN_MM3 = (20.0, 100.0, 250.0)
MIN_PROBABILITY = (0.0, 0.7, 0.8)
MAX_CONTRAST = (None, 0.0, -10.0)
GROW = (None, 0.5, 0.4, 0.3, 0.2)  # tried at the chosen mean probability and contrast only
CHOSEN = CascadeSettings()


def case_scores(cascade: Cascade, ct_path, label_path) -> dict[tuple, dict]:
    canonical = to_canonical(read_volume(ct_path))[0]
    reference = to_canonical(read_volume(label_path))[0].array
    hu, spacing, settings = canonical.array, canonical.spacing_zyx, cascade.settings
    raw, _, _ = cascade.oriented_liver(hu, body_frame(hu), None, spacing[0])
    liver = clean_liver(raw)
    roi = mask_bbox(liver, spacing, settings.roi_margin_mm)
    truth = reference == 2
    scores = {}
    if roi is None:
        return scores
    probability = cascade.tumour_probability(hu[roi.slices], spacing)
    roi_liver, roi_hu = liver[roi.slices], hu[roi.slices]
    grown_cache: dict[tuple, np.ndarray] = {}  # many rules keep the same lesions

    def grown(kept: np.ndarray, low: float | None) -> np.ndarray:
        if low is None:
            return kept
        key = (np.packbits(kept).tobytes(), low)
        if key not in grown_cache:
            grown_cache[key] = grow_lesions(kept, probability, low)
        return grown_cache[key]

    for threshold, share in itertools.product(THRESHOLDS, MIN_SHARE_NEAR_LIVER):
        found = clean_tumours(probability > 255 * threshold, roi_liver, spacing,
                              settings.liver_margin_mm, min(MIN_MM3), share)
        candidates = lesion_candidates(found, probability, roi_hu, roi_liver, spacing)
        for min_mm3, min_probability, max_contrast, low in itertools.product(
                MIN_MM3, MIN_PROBABILITY, MAX_CONTRAST, GROW):
            if low is not None and (min_probability, max_contrast) != (
                    CHOSEN.min_lesion_probability, CHOSEN.max_lesion_contrast_hu):
                continue
            kept = keep_lesions(found.shape, [c for c in candidates if c.volume_mm3 >= min_mm3],
                                min_probability, max_contrast)
            tumour = np.zeros(liver.shape, bool)
            tumour[roi.slices] = grown(kept, low)
            counts = lesion_counts(tumour, truth)
            rates = counts.rates()
            scores[(threshold, share, min_mm3, min_probability, max_contrast, low)] = {
                "tumour_dice": overlap_scores(Confusion.of(tumour, truth))["dice"],
                "f1_iou50": rates["f1_iou50"], "found": counts.n_predicted,
                "false_lesions": counts.n_predicted - counts.predicted_matched_any,
                "has_tumour": bool(truth.any())}
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("split")
    parser.add_argument("folder")
    parser.add_argument("--liver")
    parser.add_argument("--tumour")
    parser.add_argument("--json")
    args = parser.parse_args()
    cascade = Cascade.shipped(settings=CascadeSettings(), liver_path=args.liver,
                              tumour_path=args.tumour, backend="auto")
    cases = split_cases(read_split(args.split), args.folder)
    table: dict[tuple, list[dict]] = {}
    for case in cases:
        for key, row in case_scores(cascade, case.ct, case.reference).items():
            table.setdefault(key, []).append(row)
    rows = []
    for key, per_case in table.items():
        with_tumour = [r for r in per_case if r["has_tumour"]]
        free = [r for r in per_case if not r["has_tumour"]]
        rows.append({
            "threshold": key[0], "min_share_near_liver": key[1], "min_mm3": key[2],
            "min_probability": key[3], "max_contrast_hu": key[4], "grow_threshold": key[5],
            "tumour_dice": float(np.mean([r["tumour_dice"] for r in with_tumour])),
            "f1_iou50": float(np.mean([r["f1_iou50"] for r in per_case])),
            "false_lesions_tumour_free": float(np.mean([r["false_lesions"] for r in free]))
            if free else None,
            "false_lesions": float(np.mean([r["false_lesions"] for r in per_case])),
            "per_case": dict(zip([c.name for c in cases], per_case, strict=True))})
    rows.sort(key=lambda r: -(r["tumour_dice"] + r["f1_iou50"]))
    print("threshold share min_mm3 min_prob max_contrast grow | tumour Dice (with tumour) | "
          "F1 IoU>0.5 | false lesions (tumour-free) | false lesions (all)")
    for r in rows:
        print(f"{r['threshold']:.1f} {r['min_share_near_liver']:.2f} {r['min_mm3']:5.0f} "
              f"{r['min_probability']:.1f} "
              f"{r['max_contrast_hu']!s:5} {r['grow_threshold']!s:4} | "
              f"{r['tumour_dice']:.3f} | {r['f1_iou50']:.3f} | {r['false_lesions_tumour_free']} | "
              f"{r['false_lesions']:.2f}")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({"liver": args.liver, "tumour": args.tumour, "split": args.split,
                       "rows": rows}, stream, indent=1)


if __name__ == "__main__":
    main()
