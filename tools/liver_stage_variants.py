"""Liver Dice of a liver stage on whole volumes under post-processing variants: probabilities
averaged across slices (over a distance in mm), the probability threshold, and thin bridges
cut (``postprocess.cut_bridges``, radius in mm) before the cascade's clean-up (largest
component, holes filled).

The stage runs once per volume as the cascade runs it (canonical orientation, 2.5D inputs at
the volume's own slice spacing); each variant then only post-processes. Used to choose the
cascade's settings on the validation volumes of the split, never on a test case.

Usage: python tools/liver_stage_variants.py CKPT SPLIT.json LITS_FOLDER [--json OUT]
"""
from __future__ import annotations

import argparse
import itertools
import json

import numpy as np
from scipy import ndimage

from livseg.benchmark import split_cases
from livseg.infer import Cascade, CascadeSettings, Stage
from livseg.infer.cascade import smoothing_slices
from livseg.infer.postprocess import clean_liver, cut_bridges
from livseg.io import read_volume
from livseg.metrics.overlap import Confusion, overlap_scores
from livseg.preprocess import resize_in_plane, to_canonical
from livseg.splits import read_split

SMOOTHING_MM = (0.0, 4.0, 8.0)
THRESHOLDS = (0.4, 0.5, 0.6)
BRIDGE_MM = (0.0, 3.0, 5.0)


def volume_variants(cascade: Cascade, ct_path, label_path, smoothings=SMOOTHING_MM,
                    thresholds=THRESHOLDS, bridges=BRIDGE_MM) -> dict[tuple, float]:
    ct = to_canonical(read_volume(ct_path))[0]
    reference = to_canonical(read_volume(label_path))[0].array >= 1
    hu, spacing = ct.array, ct.spacing_zyx
    stage = cascade.liver
    small = np.empty((len(hu), *stage.size), np.float32)
    for start, stop, probability in cascade._in_batches(stage, hu, stage.size, "liver",
                                                        slice_mm=spacing[0]):
        small[start:stop] = probability
    scores = {}
    for smoothing in smoothings:
        slices = smoothing_slices(smoothing, spacing[0])
        smoothed = (ndimage.uniform_filter1d(small, slices, axis=0, mode="nearest")
                    if slices > 1 else small)
        probability = resize_in_plane(smoothed, hu.shape[1:], is_label=False)
        for threshold, bridge in itertools.product(thresholds, bridges):
            mask = probability > threshold
            if bridge:
                mask = cut_bridges(mask, spacing, bridge)
            scores[(smoothing, threshold, bridge)] = overlap_scores(
                Confusion.of(clean_liver(mask), reference))["dice"]
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("split")
    parser.add_argument("folder")
    parser.add_argument("--json")
    parser.add_argument("--quick", action="store_true",
                        help="only the cascade's settings (smoothing 8 mm, threshold 0.5)")
    args = parser.parse_args()
    grids = ((8.0,), (0.5,), (0.0,)) if args.quick else (SMOOTHING_MM, THRESHOLDS, BRIDGE_MM)
    cascade = Cascade(Stage.load(args.checkpoint, backend="auto"), None,
                      CascadeSettings(liver_smoothing_mm=0))
    cases = split_cases(read_split(args.split), args.folder)
    table: dict[tuple, list[float]] = {}
    for case in cases:
        for key, dice in volume_variants(cascade, case.ct, case.reference, *grids).items():
            table.setdefault(key, []).append(dice)
    print("smoothing_mm threshold bridge_mm | " + " ".join(c.name for c in cases)
          + " | mean | lowest")
    rows = []
    for (smoothing, threshold, bridge), dices in sorted(table.items(),
                                                         key=lambda kv: -np.mean(kv[1])):
        print(f"{smoothing:4.1f} {threshold:.1f} {bridge:3.1f} | "
              + " ".join(f"{d:.4f}" for d in dices)
              + f" | {np.mean(dices):.4f} | {np.min(dices):.4f}")
        rows.append({"smoothing_mm": smoothing, "threshold": threshold, "bridge_mm": bridge,
                     "dice": dict(zip([c.name for c in cases], dices, strict=True)),
                     "mean": float(np.mean(dices)), "lowest": float(np.min(dices))})
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({"checkpoint": args.checkpoint, "split": args.split, "rows": rows},
                      stream, indent=1)


if __name__ == "__main__":
    main()
