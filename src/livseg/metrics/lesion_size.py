"""Lesion size as radiologists measure it, the longest diameter in the axial plane (RECIST
1.1), and lesion detection by size class.

Arrays are in canonical axial orientation: axis 0 runs across axial slices, and
``spacing_zyx`` gives the voxel size in mm along each axis.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from livseg.metrics.lesions import LesionMatches

#: Size classes of the benchmark's lesion recall, by longest axial diameter (mm): under
#: 10 mm (below RECIST's measurable size), 10-20 mm, over 20 mm.
SIZE_CLASSES = (("under_10mm", 0.0, 10.0), ("10_to_20mm", 10.0, 20.0),
                ("over_20mm", 20.0, float("inf")))


def longest_axial_diameter(mask: np.ndarray, spacing_yx: tuple[float, float]) -> float:
    """The largest distance in mm between two voxel centres of one axial slice of ``mask``,
    and at least one pixel (a lesion of one voxel spans a pixel, not 0 mm)."""
    from scipy.spatial import ConvexHull, QhullError  # here: its import costs 0.2 s

    longest = float(min(spacing_yx))
    for plane in mask:
        points = np.argwhere(plane) * np.asarray(spacing_yx)
        if len(points) < 2:
            continue
        if len(points) > 3:
            with contextlib.suppress(QhullError):  # all points on one line: keep them all
                points = points[ConvexHull(points).vertices]
        differences = points[:, None, :] - points[None, :, :]
        longest = max(longest, float(np.sqrt((differences ** 2).sum(-1)).max()))
    return longest


def size_class(diameter_mm: float) -> int:
    """The index in ``SIZE_CLASSES`` of a lesion of this longest axial diameter."""
    return next(index for index, (_, low, high) in enumerate(SIZE_CLASSES)
                if low <= diameter_mm < high)


@dataclass(frozen=True)
class RecallBySize:
    """Per size class: reference lesions, and those detected at IoU > 0.5 and at all.
    Counts add up over cases."""

    reference: tuple[int, ...]
    detected_iou50: tuple[int, ...]
    detected_any: tuple[int, ...]

    @classmethod
    def empty(cls) -> RecallBySize:
        zeros = (0,) * len(SIZE_CLASSES)
        return cls(zeros, zeros, zeros)

    def __add__(self, other: RecallBySize) -> RecallBySize:
        return RecallBySize(*(tuple(a + b for a, b in zip(mine, theirs, strict=True))
                              for mine, theirs in ((self.reference, other.reference),
                                                   (self.detected_iou50, other.detected_iou50),
                                                   (self.detected_any, other.detected_any))))

    def as_dict(self) -> dict[str, dict]:
        """{class: {n_reference, recall_iou50, recall_any}}; a class without reference
        lesions has no recall (None)."""
        out = {}
        for index, (name, _, _) in enumerate(SIZE_CLASSES):
            total = self.reference[index]
            out[name] = {"n_reference": total,
                         "detected_iou50": self.detected_iou50[index],
                         "detected_any": self.detected_any[index],
                         "recall_iou50": self.detected_iou50[index] / total if total else None,
                         "recall_any": self.detected_any[index] / total if total else None}
        return out

    @classmethod
    def from_dict(cls, document: dict[str, dict]) -> RecallBySize:
        return cls(*(tuple(int(document[name][key]) for name, _, _ in SIZE_CLASSES)
                     for key in ("n_reference", "detected_iou50", "detected_any")))


def recall_by_size(matches: LesionMatches, spacing_zyx: tuple[float, float, float]
                   ) -> RecallBySize:
    """Which reference lesions of ``matches`` were detected, counted by the size class of
    each one's longest axial diameter."""
    if matches.n_reference == 0:
        return RecallBySize.empty()
    reference = [0] * len(SIZE_CLASSES)
    iou50, touched = list(reference), list(reference)
    found_50, found_any = matches.matched.any(axis=1), matches.touching.any(axis=1)
    regions = ndimage.find_objects(matches.reference_labels)
    for index, region in enumerate(regions):
        if region is None:
            continue
        mask = matches.reference_labels[region] == index + 1
        position = size_class(longest_axial_diameter(mask, spacing_zyx[1:]))
        reference[position] += 1
        iou50[position] += int(found_50[index])
        touched[position] += int(found_any[index])
    return RecallBySize(tuple(reference), tuple(iou50), tuple(touched))
