"""Reading and writing volumes as NIfTI, NRRD and MetaImage files (SimpleITK)."""
from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from livseg.errors import LivsegInputError
from livseg.io.limits import DEFAULT_LIMITS, ReadLimits, check_declared_size, check_grid
from livseg.io.native import native_output_logged
from livseg.io.nifti_header import check_nifti_header
from livseg.io.text_headers import itk_header
from livseg.io.volume import Volume

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")


def image_suffix(path: str | Path) -> str | None:
    """The recognised image extension of ``path`` (``.nii.gz`` counts as one), or None."""
    name = Path(path).name.lower()
    return next((s for s in IMAGE_SUFFIXES if name.endswith(s)), None)


def volume_from_sitk(image: sitk.Image, path: str | Path = "<image>") -> Volume:
    """Wrap a 3D scalar SimpleITK image as a Volume (the array is copied)."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise LivsegInputError(
            f"has {image.GetNumberOfComponentsPerPixel()} values per voxel; "
            "expected a scalar (greyscale) CT or label image", path)
    if image.GetDimension() != 3:
        raise LivsegInputError(
            f"is a {image.GetDimension()}D image of size {image.GetSize()}; expected a 3D volume",
            path)
    return Volume(
        array=sitk.GetArrayFromImage(image),
        spacing=image.GetSpacing(),
        origin=image.GetOrigin(),
        direction=image.GetDirection(),
    )


def volume_to_sitk(volume: Volume) -> sitk.Image:
    array = volume.array.astype(np.uint8) if volume.array.dtype == bool else volume.array
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(volume.direction)
    return image


def _itk_reason(error: RuntimeError) -> str:
    """The most telling line of a SimpleITK/ITK exception message."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    for line in reversed(lines):
        if "description:" in line.lower():
            return line.split(":", 1)[1].strip()
    return lines[-1] if lines else "unreadable image"


def case_name(path: Path) -> str:
    """A file's name without its image suffix (``volume-3.nii.gz`` -> ``volume-3``)."""
    suffix = image_suffix(path)
    return path.name[: -len(suffix)] if suffix else path.name


#: The ITK reader of each suffix: never chosen by ITK from the file's bytes.
_ITK_IO = {".nii.gz": "NiftiImageIO", ".nii": "NiftiImageIO", ".nrrd": "NrrdImageIO",
           ".nhdr": "NrrdImageIO", ".mha": "MetaImageIO", ".mhd": "MetaImageIO"}


def read_image_file(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> Volume:
    """Read a NIfTI, NRRD or MetaImage file with its geometry.

    Its header is checked first (declared size within ``limits``, where the voxel data
    lies), so nothing refused is ever decoded. A NIfTI file's voxel stream (a damaged or
    truncated gzip stream, NaN) is scanned while ITK decodes it, and its verdict comes
    first: the file is read once in the time of one pass.
    """
    if _ITK_IO[image_suffix(path)] != "NiftiImageIO":
        with tempfile.TemporaryDirectory(prefix="livseg-header-") as folder:
            return _read_with_itk(itk_header(path, limits, Path(folder)), limits, shown=path)
    scan = check_nifti_header(path, limits)
    if scan is None:
        return _read_with_itk(path, limits)
    with ThreadPoolExecutor(1) as pool:
        scanned = pool.submit(scan)
        try:
            volume = _read_with_itk(path, limits)
        except LivsegInputError:
            scanned.result()  # the scan's reason, when it has one, is the clearer
            raise
        scanned.result()
    return volume


def _read_with_itk(path: Path, limits: ReadLimits, shown: Path | None = None) -> Volume:
    """The image ``path`` decoded by ITK (the reader of its suffix), its declared grid
    checked before any voxel is; errors name ``shown`` (default ``path``)."""
    reader = sitk.ImageFileReader()
    reader.SetImageIO(_ITK_IO[image_suffix(path)])
    reader.SetFileName(str(path))
    path = shown or path
    try:
        with native_output_logged():
            reader.ReadImageInformation()
    except RuntimeError as error:
        raise LivsegInputError(f"not a readable image ({_itk_reason(error)})", path) from None
    dimension = reader.GetDimension()
    size = reader.GetSize()
    if dimension == 4 and size[3] == 1:
        reader.SetExtractIndex((0, 0, 0, 0))
        reader.SetExtractSize((*size[:3], 0))
    elif dimension != 3:
        raise LivsegInputError(f"is a {dimension}D image of size {size}; expected a 3D volume",
                               path)
    check_declared_size(size[:3], path, limits)
    check_grid(size[:3][::-1], reader.GetSpacing()[:3], reader.GetOrigin()[:3],
               _direction_3d(reader.GetDirection(), dimension), path)
    try:
        with native_output_logged():
            image = reader.Execute()
    except RuntimeError as error:
        if "allocate" in str(error).lower():  # ITK's bad_alloc: no memory, not a bad file
            raise MemoryError(f"{path}: {_itk_reason(error)}") from None
        raise LivsegInputError("truncated or corrupt voxel data "
                               f"({_itk_reason(error)})", path) from None
    volume = volume_from_sitk(image, path)
    if np.issubdtype(volume.array.dtype, np.floating) and not np.isfinite(volume.array).all():
        raise LivsegInputError("holds NaN or infinite voxel values", path)
    return volume


def _direction_3d(direction: tuple[float, ...], dimension: int) -> tuple[float, ...]:
    """The 3x3 spatial block of a row-major ``dimension`` x ``dimension`` direction."""
    return tuple(direction[row * dimension + col] for row in range(3) for col in range(3))


def write_volume(volume: Volume, path: str | Path, compress: bool = True) -> Path:
    """Write ``volume`` to ``path`` (format by extension), atomically.

    The file is written under a temporary folder beside ``path`` and moved into place only
    when complete, so a reader never sees half a file.
    """
    path = Path(path)
    if image_suffix(path) is None:
        raise LivsegInputError(f"unknown output format; use one of {', '.join(IMAGE_SUFFIXES)}",
                               path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        try:
            sitk.WriteImage(volume_to_sitk(volume), str(staging / path.name), compress)
        except RuntimeError as error:  # ITK's exception for a failed write (a full disk)
            raise OSError(errno.EIO, f"could not be written ({_itk_reason(error)})",
                          str(path)) from None
        written = sorted(staging.iterdir(), key=lambda p: p.name == path.name)
        for part in written:  # data files first, the header (named like path) last
            os.replace(part, path.parent / part.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.debug("wrote %s (%s)", path, volume.describe_grid())
    return path
