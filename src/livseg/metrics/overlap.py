"""Voxel overlap scores, all computed from one set of confusion counts.

A ratio whose denominator is zero (e.g. sensitivity when the reference is empty) scores 1
when prediction and reference agree exactly (both empty) and 0 otherwise; RVD, which has
no "perfect" value to fall back on, is None when the reference is empty and the
prediction is not.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Confusion:
    """Voxel counts of one binary comparison (prediction vs reference)."""

    tp: int
    fp: int
    fn: int
    tn: int

    @classmethod
    def of(cls, prediction: np.ndarray, reference: np.ndarray) -> Confusion:
        pred, ref = np.asarray(prediction, bool), np.asarray(reference, bool)
        if pred.shape != ref.shape:
            raise ValueError(f"prediction shape {pred.shape} differs from reference {ref.shape}")
        tp = int(np.count_nonzero(pred & ref))
        n_pred, n_ref = int(np.count_nonzero(pred)), int(np.count_nonzero(ref))
        return cls(tp=tp, fp=n_pred - tp, fn=n_ref - tp, tn=pred.size - n_pred - n_ref + tp)

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn,
                         self.tn + other.tn)

    @property
    def n_predicted(self) -> int:
        return self.tp + self.fp

    @property
    def n_reference(self) -> int:
        return self.tp + self.fn

    @property
    def agree(self) -> bool:
        return self.fp == 0 and self.fn == 0


def _ratio(numerator: int, denominator: int, c: Confusion) -> float:
    if denominator == 0:
        return 1.0 if c.agree else 0.0
    return numerator / denominator


def dice(c: Confusion) -> float:
    return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, c)


def iou(c: Confusion) -> float:
    return _ratio(c.tp, c.tp + c.fp + c.fn, c)


def voe(c: Confusion) -> float:
    """Volumetric overlap error = 1 - IoU."""
    return 1.0 - iou(c)


def rvd(c: Confusion) -> float | None:
    """Relative volume difference (|P| - |G|) / |G|, signed: positive means over-segmentation."""
    if c.n_reference == 0:
        return 0.0 if c.n_predicted == 0 else None
    return (c.n_predicted - c.n_reference) / c.n_reference


def accuracy(c: Confusion) -> float:
    return _ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn, c)


def sensitivity(c: Confusion) -> float:
    return _ratio(c.tp, c.tp + c.fn, c)


def specificity(c: Confusion) -> float:
    return _ratio(c.tn, c.tn + c.fp, c)


def precision(c: Confusion) -> float:
    return _ratio(c.tp, c.tp + c.fp, c)


def efficiency(c: Confusion) -> float:
    """The seed paper's efficiency: (sensitivity + specificity + accuracy) / 3."""
    return (sensitivity(c) + specificity(c) + accuracy(c)) / 3.0


OVERLAP_SCORES = {
    "dice": dice, "iou": iou, "voe": voe, "rvd": rvd, "accuracy": accuracy,
    "sensitivity": sensitivity, "specificity": specificity, "precision": precision,
    "efficiency": efficiency,
}


def overlap_scores(c: Confusion) -> dict[str, float | None]:
    """Every overlap score of :data:`OVERLAP_SCORES` for one set of counts."""
    return {name: score(c) for name, score in OVERLAP_SCORES.items()}
