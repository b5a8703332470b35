"""Files in, results out: ``segment`` (the Python API) and ``predict_file`` (what
``livseg predict`` runs for each case).

An output folder receives ``segmentation.nii.gz`` (uint8 0/1/2 on the input's exact grid),
``report.json`` and ``overlay.png`` (and liver/tumour surfaces with ``mesh``). Everything is
written to a staging folder first and moved into place only when the whole case succeeded.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from livseg.errors import LivsegInputError
from livseg.io import DEFAULT_LIMITS, ReadLimits, write_volume
from livseg.io.files import DICOM_SUFFIXES, IMAGE_SUFFIXES, case_name
from livseg.io.hu_check import read_ct
from livseg.io.text import (
    check_writable_folder,
    output_bytes_estimate,
    staged_folder,
    write_json,
)
from livseg.io.volume import Volume

if TYPE_CHECKING:  # imported where used: the command line starts without SciPy
    from livseg.infer import Cascade, CascadeResult

log = logging.getLogger(__name__)

OUTPUT_FILES = ("segmentation.nii.gz", "report.json", "overlay.png")  # always written
OPTIONAL_FILES = ("segmentation.dcm",)  # on request; also never overwritten silently


def segment(volume: Volume, *, tta: bool = True, device: str = "cpu", backend: str = "auto",
            cascade: Cascade | None = None) -> CascadeResult:
    """Liver and tumour label map (0/1/2) of a CT ``volume``, on its own grid.

    Uses the weights shipped in the package unless a ``cascade`` is given; ``backend`` "auto"
    runs them on onnxruntime on CPU when it is installed, on torch otherwise.
    """
    from livseg.infer import Cascade, CascadeSettings

    cascade = cascade or Cascade.shipped(device=device, settings=CascadeSettings(tta=tta),
                                         backend=backend)
    return cascade.segment(volume)


@dataclass(frozen=True)
class PredictedCase:
    """What ``predict_case`` wrote, kept in memory: the report, the CT, its labels and the
    map of the report's lesions (their ids on the CT's grid, ``report.find_lesions``)."""

    report: dict
    ct: Volume
    labels: Volume
    lesion_map: np.ndarray | None = None


def predict_file(input_path: Path, out_dir: Path, cascade: Cascade, **options) -> dict:
    """Segment one case and write its output folder (``predict_case``); returns the report."""
    return predict_case(input_path, out_dir, cascade, **options).report


def predict_case(input_path: Path, out_dir: Path, cascade: Cascade, *, overwrite: bool = False,
                 mesh: str | None = None, progress=None, dicom_seg: bool = False,
                 series: str | None = None,
                 limits: ReadLimits = DEFAULT_LIMITS) -> PredictedCase:
    """Segment one case and write its output folder. With ``dicom_seg``
    (DICOM input only) the folder also gets ``segmentation.dcm``, a DICOM SEG referencing
    the source series; ``series`` picks one series of a folder holding several; ``limits``
    bound what is read. An output folder that cannot be written, or whose disk is too full
    for the results, is refused before the cascade runs. The label file is compressed while
    the picture is drawn and the report measured."""
    out_dir = Path(out_dir)
    if dicom_seg and not is_dicom_input(input_path):
        raise LivsegInputError("--dicom-seg needs a DICOM series as input", input_path)
    _check_output_folder(input_path, out_dir, overwrite)
    check_writable_folder(out_dir)
    started = time.perf_counter()
    volume = read_ct(input_path, series, limits)
    check_writable_folder(out_dir, output_bytes_estimate(volume.array.size))
    seconds = {"read": round(time.perf_counter() - started, 4)}
    result = cascade.segment(volume, progress=progress)
    from livseg.report import build_report, find_lesions
    from livseg.viz.overlay import save_overlay

    seconds |= result.seconds
    with _output_folder(out_dir) as staging, ThreadPoolExecutor(1) as writer:
        labels_written = writer.submit(_write_labels, result.labels, staging, dicom_seg,
                                       Path(input_path), series)
        clock = time.perf_counter()
        save_overlay(volume, result.labels, staging / "overlay.png",
                     title=f"{case_name(Path(input_path))}: liver (green), tumour (red)")
        if mesh:
            _write_meshes(result.labels, staging, mesh)
        seconds["pictures"] = round(time.perf_counter() - clock, 4)
        lesions, lesion_map = find_lesions(result.labels, volume)
        report = build_report(result.labels, input_path=str(input_path), models=result.models,
                              seconds=seconds, notes=[*volume.notes, *result.notes],
                              ct=volume, settings=asdict(cascade.settings), lesions=lesions)
        seconds["write"] = labels_written.result()  # the report holds this dict
        seconds["total"] = round(time.perf_counter() - started, 4)
        write_json(staging / "report.json", report)
    return PredictedCase(report, volume, result.labels, lesion_map)


def _write_labels(labels: Volume, folder: Path, dicom_seg: bool, source: Path,
                  series: str | None) -> float:
    """``segmentation.nii.gz`` (and ``segmentation.dcm``) in ``folder``; returns seconds."""
    clock = time.perf_counter()
    write_volume(labels, folder / "segmentation.nii.gz")
    if dicom_seg:
        from livseg.io.dicom_seg import write_dicom_seg

        write_dicom_seg(labels, source, folder / "segmentation.dcm", series)
    return round(time.perf_counter() - clock, 4)


def is_dicom_input(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() or path.name.lower().endswith(DICOM_SUFFIXES)


def _write_meshes(labels: Volume, folder: Path, fmt: str) -> None:
    from livseg.viz.mesh import surface_mesh, write_mesh

    for name, mask in (("liver", labels.array >= 1), ("tumour", labels.array == 2)):
        surface = surface_mesh(mask, labels)
        if surface is not None:
            write_mesh(*surface, folder / f"{name}.{fmt}")


def _check_output_folder(input_path: Path, out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise LivsegInputError("exists and is not a folder", out_dir)
    inside = Path(input_path).resolve()
    if out_dir.resolve() == inside or out_dir.resolve() in inside.parents and any(
            (out_dir / name).resolve() == inside for name in OUTPUT_FILES + OPTIONAL_FILES):
        raise LivsegInputError("would overwrite the input", out_dir)
    present = [name for name in OUTPUT_FILES + OPTIONAL_FILES if (out_dir / name).exists()]
    if present and not overwrite:
        raise LivsegInputError(f"already holds {present[0]}; use --overwrite to replace it",
                               out_dir)


@contextlib.contextmanager
def _output_folder(out_dir: Path) -> Iterator[Path]:
    """A staging folder for one case's files. On success a new ``out_dir`` takes its place,
    or, when ``out_dir`` exists (it may hold other files), the files move into it, the
    report last. On failure nothing of the case is left; a failure to write (a full disk)
    is reported as bad input naming ``out_dir``."""
    try:
        if not out_dir.exists():
            with staged_folder(out_dir) as staging:
                yield staging
            return
        staging = Path(tempfile.mkdtemp(prefix=".livseg-", dir=out_dir))
        try:
            yield staging
            for part in sorted(staging.iterdir(), key=lambda p: p.name == "report.json"):
                os.replace(part, out_dir / part.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as error:
        raise LivsegInputError(f"could not write the results ({error.strerror or error}; is "
                               "the disk full?); nothing of them was kept", out_dir) from None


__all__ = ["IMAGE_SUFFIXES", "PredictedCase", "case_name", "predict_case", "predict_file",
           "segment"]
