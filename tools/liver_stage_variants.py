"""Liver Dice of a liver-stage checkpoint on whole real volumes under post-processing
variants (probability threshold, averaging probabilities over 3 neighbouring slices, flip
TTA), each followed by the cascade's clean-up (largest component, holes filled).
Used to choose the cascade's settings on development volumes, never on the test volume.
Usage: python tools/liver_stage_variants.py CKPT CT:LABELS [CT:LABELS ...]"""
from __future__ import annotations

import sys

import numpy as np
from scipy import ndimage

from livseg.infer import Stage
from livseg.infer.postprocess import clean_liver
from livseg.io import read_volume
from livseg.metrics.overlap import Confusion, overlap_scores
from livseg.preprocess import resize_in_plane, to_canonical

THRESHOLDS = (0.5, 0.6, 0.7)


def main(checkpoint: str, pairs: list[str]) -> None:
    stage = Stage.load(checkpoint)
    table: dict[tuple, list[float]] = {}
    for pair in pairs:
        ct_path, label_path = pair.split(":")
        ct = to_canonical(read_volume(ct_path))[0]
        reference = to_canonical(read_volume(label_path))[0].array >= 1
        hu = ct.array.astype(np.float32)
        for tta in (False, True):
            small = stage.probability(resize_in_plane(hu, stage.size, is_label=False), tta=tta)
            probability = resize_in_plane(small, hu.shape[1:], is_label=False)
            for smooth in (False, True):
                p = ndimage.uniform_filter1d(probability, 3, axis=0) if smooth else probability
                for threshold in THRESHOLDS:
                    dice = overlap_scores(Confusion.of(clean_liver(p > threshold),
                                                       reference))["dice"]
                    table.setdefault((tta, smooth, threshold), []).append(dice)
    print("tta smooth threshold | " + " ".join(p.split(":")[0].split("/")[-2] for p in pairs)
          + " | mean")
    for (tta, smooth, threshold), dices in table.items():
        print(f"{tta!s:5} {smooth!s:5} {threshold:.1f} | "
              + " ".join(f"{d:.4f}" for d in dices) + f" | {np.mean(dices):.4f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
