"""One scan of a comparison: a CT segmented now, or a finished ``livseg predict`` folder.

A predict folder is recognised by its ``report.json`` and ``segmentation.nii.gz``; its CT
is the file the report names (``input.path``). Either way the lesions are measured as the
report measures them (``livseg.report.find_lesions``), with their map on the scan's grid.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from livseg.errors import LivsegInputError
from livseg.io import DEFAULT_LIMITS, ReadLimits, read_volume
from livseg.io.hu_check import read_ct
from livseg.io.volume import Volume
from livseg.preprocess import to_canonical
from livseg.report import find_lesions

#: A scan whose first or last axial slice holds this much liver (cm^2) cuts the liver off:
#: lesions beyond it would be reported as gone or new.
CUT_LIVER_CM2 = 10.0


@dataclass(frozen=True)
class Timepoint:
    source: Path  # what was given: a CT, or a predict folder
    ct: Volume
    labels: Volume  # 0/1/2 on the CT's grid
    lesions: list[dict]  # as in report.json, largest first, ids 1, 2, ...
    lesion_map: np.ndarray  # lesion ids on the CT's grid (uint8, or wider for many lesions)
    segmented_into: Path | None  # the predict folder written for it, if it was segmented

    @property
    def liver(self) -> Volume:
        return self.labels.with_array(np.asarray(self.labels.array >= 1, np.uint8))

    def liver_region(self, margin_mm: float) -> Timepoint:
        """The timepoint cut to its liver's box plus ``margin_mm`` (views, on the box's own
        grid): every lesion lies inside, so registration, matching and pictures need no more
        of the scan."""
        from livseg.preprocess import mask_bbox

        box = mask_bbox(self.labels.array >= 1, self.labels.spacing_zyx, margin_mm)
        return replace(self, ct=self.ct.cropped(box), labels=self.labels.cropped(box),
                       lesion_map=self.lesion_map[box.slices])

    def summary(self) -> dict:
        voxel_ml = self.labels.voxel_volume_ml
        return {"input": str(self.source),
                "segmented": self.segmented_into is not None,
                "liver_volume_ml": round(float(np.count_nonzero(self.labels.array >= 1))
                                         * voxel_ml, 3),
                "tumour_volume_ml": round(float(np.count_nonzero(self.labels.array == 2))
                                          * voxel_ml, 3),
                "lesion_count": len(self.lesions)}


def is_predict_folder(path: Path) -> bool:
    return (Path(path) / "report.json").is_file() and (
        Path(path) / "segmentation.nii.gz").is_file()


def load_timepoint(path: Path, segment_into: Path, predict, *, whole_liver: bool = True,
                   limits: ReadLimits = DEFAULT_LIMITS) -> Timepoint:
    """``path`` as a timepoint: read from its predict folder, or segmented by
    ``predict(path, folder) -> PredictedCase`` into ``segment_into``. Refused (bad input)
    without a liver, or, with ``whole_liver``, when the scan cuts the liver off."""
    path = Path(path)
    if not path.exists():
        raise LivsegInputError("does not exist", path)
    lesions = lesion_map = None
    if is_predict_folder(path):
        ct, labels = _read_predict_folder(path, limits)
        written = None
    else:
        case = predict(path, segment_into)
        ct, labels, written = case.ct, case.labels, segment_into
        if case.lesion_map is not None:  # measured for its report: not again
            lesions, lesion_map = case.report["lesions"], case.lesion_map
    if not np.any(labels.array >= 1):
        raise LivsegInputError("no liver found in this scan; there is nothing to compare", path)
    if whole_liver:
        _check_liver_covered(labels, path)
    if lesion_map is None:
        lesions, lesion_map = find_lesions(labels, ct)
    return Timepoint(path, ct, labels, lesions, lesion_map, written)


def _read_predict_folder(folder: Path, limits: ReadLimits) -> tuple[Volume, Volume]:
    try:
        report = json.loads((folder / "report.json").read_text())
        ct_path = Path(report["input"]["path"])
    except (ValueError, KeyError, TypeError):
        raise LivsegInputError("report.json is not a livseg report", folder) from None
    if not ct_path.exists():
        raise LivsegInputError(f"the CT this folder was made from ({ct_path}, report.json's "
                               "input.path) is not there; give the CT instead", folder)
    ct = read_ct(ct_path, None, limits)
    labels = read_volume(folder / "segmentation.nii.gz", limits=limits)
    if not labels.same_grid(ct):
        raise LivsegInputError(f"segmentation.nii.gz is not on the grid of its CT {ct_path}",
                               folder)
    return ct, labels.with_array(np.asarray(labels.array, np.uint8))


def _check_liver_covered(labels: Volume, path: Path) -> None:
    canonical, _ = to_canonical(labels, copy=False)
    pixel_cm2 = canonical.spacing_zyx[1] * canonical.spacing_zyx[2] / 100.0
    for end, plane in (("first", canonical.array[0]), ("last", canonical.array[-1])):
        area = np.count_nonzero(plane >= 1) * pixel_cm2
        if area >= CUT_LIVER_CM2:
            raise LivsegInputError(
                f"the scan cuts the liver off ({area:.0f} cm2 of liver on its {end} axial "
                "slice): lesions beyond it cannot be followed; use --partial-liver to compare "
                "anyway", path)
