"""Volumes in and out: NIfTI, NRRD, MetaImage and DICOM series, with exact geometry.

SimpleITK, NumPy and the readers are imported on first use (``Volume``, ``read_volume``,
...), so that the command line's light paths (``livseg --version``, argument errors) start
in a tenth of the time (docs/speed.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from livseg.errors import LivsegInputError
from livseg.io.limits import DEFAULT_LIMITS, UPLOAD_LIMITS, ReadLimits

if TYPE_CHECKING:
    from livseg.io.dicom import read_dicom_series
    from livseg.io.files import write_volume
    from livseg.io.volume import Volume

_LAZY = {"read_dicom_series": "livseg.io.dicom", "write_volume": "livseg.io.files",
         "Volume": "livseg.io.volume"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'livseg.io' has no attribute {name!r}")


def read_volume(path: str | Path, series: str | None = None,
                limits: ReadLimits = DEFAULT_LIMITS) -> Volume:
    """Read a CT or label volume with its geometry.

    ``path`` is a NIfTI (.nii, .nii.gz), NRRD, MetaImage (.mha/.mhd) file, a folder holding
    one DICOM series (or several, one of them chosen by its ``series`` instance UID), or a
    single DICOM file (one slice). Declared sizes are checked against ``limits`` before
    any voxel is decoded. Anything livseg cannot use raises :class:`LivsegInputError`
    naming the file and the problem.
    """
    from livseg.io.dicom import read_dicom_series
    from livseg.io.files import DICOM_SUFFIXES, IMAGE_SUFFIXES, image_suffix, read_image_file

    path = Path(path)
    if not path.exists():
        raise LivsegInputError("does not exist", path)
    if path.is_dir():
        return read_dicom_series(path, series, limits)
    if series is not None:
        raise LivsegInputError(f"is a single file, but a DICOM series ({series}) was asked "
                               "for; --series chooses among the series of a DICOM folder",
                               path)
    if path.stat().st_size == 0:
        raise LivsegInputError("is an empty file", path)
    if path.name.lower().endswith(DICOM_SUFFIXES):
        return read_dicom_series(path, limits=limits)
    if image_suffix(path) is None:
        raise LivsegInputError(
            "has an unknown extension; expected " + ", ".join(IMAGE_SUFFIXES)
            + " or a DICOM folder", path)
    return read_image_file(path, limits)


__all__ = ["DEFAULT_LIMITS", "UPLOAD_LIMITS", "LivsegInputError", "ReadLimits", "Volume",
           "read_dicom_series", "read_volume", "write_volume"]
