"""Lesion-wise detection on 3D connected components (26-connectivity).

A reference lesion counts as detected at IoU > 0.5 when one predicted component overlaps
it with an intersection-over-union above 0.5 (such a match is necessarily one-to-one), and
as detected "any overlap" when a predicted component touches it at all. Precision is the
same question asked of the predicted components.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class LesionCounts:
    """Counts that add up over cases; the rates are computed from them."""

    n_reference: int
    n_predicted: int
    reference_detected_iou50: int
    predicted_matched_iou50: int
    reference_detected_any: int
    predicted_matched_any: int

    def __add__(self, other: LesionCounts) -> LesionCounts:
        return LesionCounts(*(a + b for a, b in zip(asdict(self).values(),
                                                    asdict(other).values(), strict=True)))

    def rates(self) -> dict[str, float | int]:
        """Recall, precision and F1; with nothing to count, 1 if both sides are empty, else 0."""
        agree = self.n_reference == 0 and self.n_predicted == 0
        recall_50 = _rate(self.reference_detected_iou50, self.n_reference, agree)
        precision_50 = _rate(self.predicted_matched_iou50, self.n_predicted, agree)
        denominator = recall_50 + precision_50
        return {
            "n_reference": self.n_reference,
            "n_predicted": self.n_predicted,
            "recall_iou50": recall_50,
            "precision_iou50": precision_50,
            "f1_iou50": 2 * recall_50 * precision_50 / denominator if denominator else 0.0,
            "recall_any": _rate(self.reference_detected_any, self.n_reference, agree),
            "precision_any": _rate(self.predicted_matched_any, self.n_predicted, agree),
        }


def _rate(hits: int, total: int, agree: bool) -> float:
    if total == 0:
        return 1.0 if agree else 0.0
    return hits / total


def label_lesions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """3D connected components (26-connectivity) of a binary mask: (labels, count)."""
    labels, count = ndimage.label(np.asarray(mask, bool), structure=FULL_CONNECTIVITY)
    return labels, int(count)


def overlap_matrix(reference_labels: np.ndarray, n_reference: int,
                   predicted_labels: np.ndarray, n_predicted: int) -> np.ndarray:
    """Voxel counts of every (reference, predicted) component pair, background row/column 0."""
    pairs = reference_labels.astype(np.int64) * (n_predicted + 1) + predicted_labels
    counts = np.bincount(pairs.ravel(), minlength=(n_reference + 1) * (n_predicted + 1))
    return counts.reshape(n_reference + 1, n_predicted + 1)


@dataclass(frozen=True)
class LesionMatches:
    """The components of a reference and a predicted mask (labelled within the box that
    holds both) and which pairs overlap: ``matched`` at IoU > 0.5, ``touching`` at all
    (boolean, reference by predicted)."""

    reference_labels: np.ndarray
    n_reference: int
    n_predicted: int
    matched: np.ndarray
    touching: np.ndarray

    def counts(self) -> LesionCounts:
        return LesionCounts(
            n_reference=self.n_reference, n_predicted=self.n_predicted,
            reference_detected_iou50=int(self.matched.any(axis=1).sum()),
            predicted_matched_iou50=int(self.matched.any(axis=0).sum()),
            reference_detected_any=int(self.touching.any(axis=1).sum()),
            predicted_matched_any=int(self.touching.any(axis=0).sum()),
        )


def match_lesions(prediction: np.ndarray, reference: np.ndarray) -> LesionMatches:
    """Match the connected components of ``prediction`` against those of ``reference``
    (within the box that holds both: components and overlaps are the same there, and a
    CT's tumours fill a small part of it)."""
    prediction, reference = np.asarray(prediction, bool), np.asarray(reference, bool)
    box = ndimage.find_objects((prediction | reference).view(np.uint8))
    box = box[0] if box else tuple(slice(0, 0) for _ in prediction.shape)
    ref_labels, n_ref = label_lesions(reference[box])
    pred_labels, n_pred = label_lesions(prediction[box])
    matrix = overlap_matrix(ref_labels, n_ref, pred_labels, n_pred)
    ref_sizes = matrix.sum(axis=1)[1:, None]
    pred_sizes = matrix.sum(axis=0)[None, 1:]
    intersection = matrix[1:, 1:]
    union = ref_sizes + pred_sizes - intersection
    iou = np.divide(intersection, union, out=np.zeros(intersection.shape), where=union > 0)
    return LesionMatches(ref_labels, n_ref, n_pred, iou > 0.5, intersection > 0)


def lesion_counts(prediction: np.ndarray, reference: np.ndarray) -> LesionCounts:
    """Lesion detection counts of ``prediction`` against ``reference`` (``match_lesions``)."""
    return match_lesions(prediction, reference).counts()
