"""Volumes in and out: NIfTI, NRRD, MetaImage and DICOM series, with exact geometry."""
from __future__ import annotations

from pathlib import Path

from livseg.errors import LivsegInputError
from livseg.io.dicom import read_dicom_series
from livseg.io.files import (
    DICOM_SUFFIXES,
    IMAGE_SUFFIXES,
    image_suffix,
    read_image_file,
    write_volume,
)
from livseg.io.limits import DEFAULT_LIMITS, UPLOAD_LIMITS, ReadLimits
from livseg.io.volume import Volume


def read_volume(path: str | Path, series: str | None = None,
                limits: ReadLimits = DEFAULT_LIMITS) -> Volume:
    """Read a CT or label volume with its geometry.

    ``path`` is a NIfTI (.nii, .nii.gz), NRRD, MetaImage (.mha/.mhd) file, a folder holding
    one DICOM series (or several, one of them chosen by its ``series`` instance UID), or a
    single DICOM file (one slice). Declared sizes are checked against ``limits`` before
    any voxel is decoded. Anything livseg cannot use raises :class:`LivsegInputError`
    naming the file and the problem.
    """
    path = Path(path)
    if not path.exists():
        raise LivsegInputError("does not exist", path)
    if path.is_dir():
        return read_dicom_series(path, series, limits)
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
