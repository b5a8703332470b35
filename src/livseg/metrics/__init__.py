"""LiTS metrics: overlap, surface distances in mm, lesion detection, whole evaluations."""
from __future__ import annotations

from livseg.metrics.cases import evaluate_files, pair_label_files
from livseg.metrics.evaluate import (
    CaseResult,
    aggregate,
    confusion_matrix,
    evaluate_case,
    evaluation_report,
    mean_of_defined,
)
from livseg.metrics.lesions import LesionCounts, label_lesions, lesion_counts
from livseg.metrics.overlap import Confusion, overlap_scores
from livseg.metrics.surface import SurfaceDistances, surface_distances, surface_voxels

__all__ = [
    "CaseResult", "Confusion", "LesionCounts", "SurfaceDistances", "aggregate",
    "confusion_matrix", "evaluate_case", "evaluate_files", "evaluation_report",
    "label_lesions", "lesion_counts", "mean_of_defined", "overlap_scores", "pair_label_files",
    "surface_distances", "surface_voxels",
]
