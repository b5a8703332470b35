"""Scoring label maps as the LiTS benchmark does: per case, then over all cases.

``liver`` scores label >= 1 (liver including tumour), ``tumour`` scores label == 2, and
``lesions`` scores tumour components one by one. The JSON shape is a contract (DESIGN.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from livseg.metrics.lesion_size import RecallBySize, recall_by_size
from livseg.metrics.lesions import LesionCounts, match_lesions
from livseg.metrics.overlap import Confusion, dice, overlap_scores
from livseg.metrics.surface import surface_distances

LABELS = (0, 1, 2)  # background, liver, tumour
STRUCTURES = {"liver": lambda labels: labels >= 1, "tumour": lambda labels: labels == 2}


@dataclass(frozen=True)
class CaseResult:
    """Everything measured on one case; ``as_dict`` gives its JSON form."""

    case: str
    confusion_matrix: np.ndarray  # 3x3: reference label (rows) by predicted label (columns)
    structures: dict[str, dict]
    confusions: dict[str, Confusion]
    lesions: LesionCounts
    tumour_burden_error: float
    lesions_by_size: RecallBySize  # reference lesions by longest axial diameter

    def as_dict(self) -> dict:
        return {
            "case": self.case,
            **self.structures,
            "lesions": {**self.lesions.rates(), "tumour_burden_error": self.tumour_burden_error},
            "lesions_by_size": self.lesions_by_size.as_dict(),
            "confusion": self.confusion_matrix.tolist(),
        }


def confusion_matrix(prediction: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Voxel counts, reference label (rows 0/1/2) by predicted label (columns 0/1/2)."""
    # uint8 pairs (0..8): an eighth of int64's memory on a 512x512x150 CT (40 MB, not 320)
    pairs = reference.astype(np.uint8).ravel() * np.uint8(3) + prediction.astype(np.uint8).ravel()
    return np.bincount(pairs, minlength=9).reshape(3, 3)


def _binary_confusion(matrix: np.ndarray, members: tuple[int, ...]) -> Confusion:
    inside = np.zeros(3, bool)
    inside[list(members)] = True
    tp = int(matrix[np.ix_(inside, inside)].sum())
    fp = int(matrix[np.ix_(~inside, inside)].sum())
    fn = int(matrix[np.ix_(inside, ~inside)].sum())
    return Confusion(tp=tp, fp=fp, fn=fn, tn=int(matrix.sum()) - tp - fp - fn)


def _burden(labels_confusion: np.ndarray, axis: int) -> float:
    counts = labels_confusion.sum(axis=axis)
    liver = counts[1] + counts[2]
    return float(counts[2] / liver) if liver else 0.0


def evaluate_case(prediction: np.ndarray, reference: np.ndarray,
                  spacing_zyx: tuple[float, float, float], case: str = "case") -> CaseResult:
    """Score one predicted label map (0/1/2) against its reference on the same grid, in
    canonical axial orientation (axis 0 across axial slices: lesion diameters are axial)."""
    if prediction.shape != reference.shape:
        raise ValueError(f"prediction shape {prediction.shape} differs from {reference.shape}")
    matrix = confusion_matrix(prediction, reference)
    confusions = {"liver": _binary_confusion(matrix, (1, 2)),
                  "tumour": _binary_confusion(matrix, (2,))}
    structures = {}
    for name, select in STRUCTURES.items():
        distances = surface_distances(select(prediction), select(reference), spacing_zyx)
        structures[name] = {**overlap_scores(confusions[name]), **distances.as_dict()}
    burden_error = abs(_burden(matrix, axis=0) - _burden(matrix, axis=1))
    matches = match_lesions(prediction == 2, reference == 2)
    return CaseResult(case=case, confusion_matrix=matrix, structures=structures,
                      confusions=confusions, lesions=matches.counts(),
                      tumour_burden_error=burden_error,
                      lesions_by_size=recall_by_size(matches, spacing_zyx))


def mean_of_defined(values: list[float | None]) -> float | None:
    """The mean over the cases where the figure is defined (None: undefined, e.g. a
    distance to an empty mask); ``aggregate`` counts the others under "undefined"."""
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def aggregate(results: list[CaseResult]) -> dict:
    """Figures over all cases: per-case means, global Dice, pooled lesion detection."""
    summary: dict[str, dict] = {}
    for name in STRUCTURES:
        per_case = [r.structures[name] for r in results]
        pooled = sum((r.confusions[name] for r in results), Confusion(0, 0, 0, 0))
        summary[name] = {
            "n_cases": len(results),
            "dice_per_case": mean_of_defined([c["dice"] for c in per_case]),
            "dice_global": dice(pooled),
            **{key: mean_of_defined([c[key] for c in per_case])
               for key in per_case[0] if key != "dice"},
            "undefined": {key: count for key in per_case[0]
                          if (count := sum(c[key] is None for c in per_case))},
        } if results else {"n_cases": 0}
    lesions = sum((r.lesions for r in results), LesionCounts(0, 0, 0, 0, 0, 0))
    errors = [r.tumour_burden_error for r in results]
    summary["lesions"] = {
        **lesions.rates(),
        "tumour_burden_rmse": math.sqrt(float(np.mean(np.square(errors)))) if errors else None,
        "tumour_burden_max_error": max(errors) if errors else None,
    }
    summary["lesions_by_size"] = sum((r.lesions_by_size for r in results),
                                     RecallBySize.empty()).as_dict()
    return summary


def evaluation_report(results: list[CaseResult]) -> dict:
    """The JSON document of ``livseg evaluate``."""
    return {"cases": [r.as_dict() for r in results], "aggregate": aggregate(results)}
