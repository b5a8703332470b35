"""Reading one DICOM CT series from a folder.

pydicom reads the headers (series, modality, slice positions) so that the slices can be
checked and ordered along the slice normal; SimpleITK (GDCM) decodes the pixels, applying
the rescale slope and intercept and any compressed transfer syntax it knows.
"""
from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

from livseg.errors import LivsegInputError
from livseg.io.limits import DEFAULT_LIMITS, ReadLimits, check_declared_size, check_grid
from livseg.io.native import native_output_logged
from livseg.io.volume import Volume

if TYPE_CHECKING:
    import pydicom

log = logging.getLogger(__name__)

#: Relative deviation of a slice gap from the mean gap above which spacing is "uneven".
UNEVEN_SPACING_TOLERANCE = 0.01
#: A gap wider than this many usual (median) gaps is a hole no interpolation should bridge.
LARGEST_GAP_RATIO = 4.0
#: Angle (degrees) between the slice normal and the stacking direction that counts as tilt.
GANTRY_TILT_TOLERANCE_DEG = 0.05

_HEADER_TAGS = ["SeriesInstanceUID", "Modality", "SeriesDescription", "ImageType",
                "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows",
                "Columns", "SliceThickness", "SOPInstanceUID", "SamplesPerPixel",
                "PhotometricInterpretation", "BitsAllocated", "NumberOfFrames", "PixelData"]


@dataclass(frozen=True)
class DicomSlice:
    path: Path
    position: np.ndarray  # ImagePositionPatient, mm
    orientation: np.ndarray  # ImageOrientationPatient: row then column direction cosines
    rows: int
    columns: int
    slice_thickness: float | None
    pixel_spacing: tuple[float, ...] | None = None  # PixelSpacing: between rows, columns
    modality: str = "CT"
    photometric: str = "MONOCHROME2"  # with SamplesPerPixel 1: greyscale
    pixel_bytes: int | None = None  # bytes of uncompressed PixelData; None: encapsulated
    expected_bytes: int = 0  # what Rows, Columns, BitsAllocated and SamplesPerPixel make


@dataclass(frozen=True)
class DicomSeries:
    uid: str
    modality: str
    description: str
    slices: tuple[DicomSlice, ...]

    def summary(self) -> str:
        text = f"{self.uid or '<no UID>'} ({self.modality}, {len(self.slices)} slices"
        return text + (f", '{self.description}')" if self.description else ")")


def _read_header(path: Path) -> pydicom.Dataset | None:
    import pydicom  # here: reading NIfTI/NRRD/MHA files never needs it

    try:  # the pixel data is read too (from the cache GDCM reads it from) to check its length
        return pydicom.dcmread(path, specific_tags=_HEADER_TAGS)
    except Exception:  # noqa: BLE001  untrusted bytes: pydicom fails in many ways
        return None


def _is_localizer(header: pydicom.Dataset) -> bool:
    image_type = [str(v).upper() for v in header.get("ImageType", [])]
    return "LOCALIZER" in image_type


def files_under(folder: Path) -> list[Path]:
    """Every candidate file under ``folder`` (recursively), hidden files and DICOMDIR left out."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / n for n in sorted(names)
                  if not n.startswith(".") and n.upper() != "DICOMDIR"]
    return found


def _spacing(header: pydicom.Dataset) -> tuple[float, ...] | None:
    """PixelSpacing as numbers (NaN for what is none); None when absent."""
    value = header.get("PixelSpacing")
    if value in (None, ""):
        return None
    values = list(value) if isinstance(value, list | tuple) or hasattr(value, "__iter__") \
        and not isinstance(value, str) else [value]
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError):
        return (math.nan,)


def _pixel_bytes(header: pydicom.Dataset) -> tuple[int | None, int]:
    """The length of uncompressed PixelData (None when encapsulated) and what the header
    says it must hold."""
    frames = int(header.get("NumberOfFrames") or 1)
    expected = int(header.Rows) * int(header.Columns) * frames * int(
        header.get("SamplesPerPixel") or 1) * (int(header.get("BitsAllocated") or 16) // 8)
    syntax = getattr(getattr(header, "file_meta", None), "TransferSyntaxUID", None)
    if "PixelData" not in header or (syntax is not None and syntax.is_compressed):
        return None, expected
    return len(header.PixelData), expected


def _slice_from_header(path: Path, header: pydicom.Dataset
                       ) -> tuple[DicomSlice, str, str, str] | None:
    """The slice geometry and series identity of one image header, or None when it is no
    usable CT slice. pydicom parses values lazily, so reading them from corrupt bytes may
    raise anything: every failure here means "not a slice"."""
    try:
        if "ImagePositionPatient" not in header or _is_localizer(header):
            return None
        thickness = header.get("SliceThickness")
        pixel_bytes, expected = _pixel_bytes(header)
        item = DicomSlice(path=path,
                          position=np.asarray(header.ImagePositionPatient, dtype=float),
                          orientation=np.asarray(header.ImageOrientationPatient, dtype=float),
                          rows=int(header.Rows), columns=int(header.Columns),
                          slice_thickness=float(thickness) if thickness not in (None, "") else None,
                          pixel_spacing=_spacing(header),
                          modality=str(header.get("Modality", "")),
                          photometric=str(header.get("PhotometricInterpretation", "MONOCHROME2"))
                          if int(header.get("SamplesPerPixel") or 1) == 1 else "colour",
                          pixel_bytes=pixel_bytes, expected_bytes=expected)
        identity = (str(header.get("SeriesInstanceUID", "")), str(header.get("Modality", "")),
                    str(header.get("SeriesDescription", "")))
    except Exception:  # noqa: BLE001
        return None
    geometry = np.concatenate([item.position, item.orientation])
    if item.position.shape != (3,) or item.orientation.shape != (6,) \
            or not np.isfinite(geometry).all() or item.rows < 1 or item.columns < 1 \
            or np.linalg.norm(np.cross(item.orientation[:3], item.orientation[3:])) < 1e-3:
        return None
    return item, *identity


def find_series(paths: list[Path]) -> list[DicomSeries]:
    """The DICOM image series among ``paths``: images with a position, localizers left out."""
    groups: dict[str, list[DicomSlice]] = defaultdict(list)
    info: dict[str, tuple[str, str]] = {}
    for path in paths:
        header = _read_header(path)
        found = None if header is None else _slice_from_header(path, header)
        if found is None:
            continue
        item, uid, modality, description = found
        groups[uid].append(item)
        info.setdefault(uid, (modality, description))
    return [DicomSeries(uid, info[uid][0], info[uid][1], tuple(slices))
            for uid, slices in groups.items()]


def _slice_normal(orientation: np.ndarray) -> np.ndarray:
    normal = np.cross(orientation[:3], orientation[3:])
    return normal / np.linalg.norm(normal)


def _check_slice(item: DicomSlice, first: DicomSlice, folder: Path) -> None:
    """Refuse a slice that does not belong with the first one of its series, or that cannot
    be a CT slice: another modality, colour, another pixel size or none, short pixel data."""
    name = item.path.name
    if not np.allclose(item.orientation, first.orientation, atol=1e-3):
        raise LivsegInputError("slices of the series have different orientations", folder)
    if (item.rows, item.columns) != (first.rows, first.columns):
        raise LivsegInputError("slices of the series have different sizes", folder)
    if item.modality != first.modality:
        raise LivsegInputError(f"slices of the series have different modalities ({name} is "
                               f"{item.modality or 'unknown'}, {first.path.name} "
                               f"{first.modality or 'unknown'})", folder)
    if item.photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise LivsegInputError(f"slice {name} is not greyscale ({item.photometric}); a CT "
                               "slice is MONOCHROME2", folder)
    spacing = item.pixel_spacing
    if spacing is None:
        raise LivsegInputError(f"slice {name} has no PixelSpacing: the size of its pixels is "
                               "unknown", folder)
    if len(spacing) != 2 or not all(math.isfinite(v) and v > 0 for v in spacing):
        shown = "\\".join(f"{v:g}" for v in spacing)
        raise LivsegInputError(f"slice {name} has a PixelSpacing of {shown}; it needs two "
                               "positive numbers (mm)", folder)
    if not np.allclose(spacing, first.pixel_spacing, rtol=1e-4, atol=0):
        raise LivsegInputError(f"slices of the series have different pixel spacings ({name}: "
                               f"{spacing[0]:g}x{spacing[1]:g} mm, {first.path.name}: "
                               f"{first.pixel_spacing[0]:g}x{first.pixel_spacing[1]:g} mm)",
                               folder)


def _check_pixel_data(ordered: list[DicomSlice], folder: Path) -> None:
    """Refuse a slice whose uncompressed pixel data is shorter than its header declares
    (GDCM decodes what is there, and the rest of the slice is garbage)."""
    for item in ordered:
        if item.pixel_bytes is not None and item.pixel_bytes < item.expected_bytes:
            raise LivsegInputError(f"slice {item.path.name} holds {item.pixel_bytes} bytes of "
                                   f"pixel data; its header declares {item.rows}x"
                                   f"{item.columns} pixels, {item.expected_bytes} bytes (a "
                                   "truncated file?)", folder)


def _order_and_check(series: DicomSeries, folder: Path) -> tuple[list[DicomSlice], list[str]]:
    """Slices sorted along the normal, and notes about uneven spacing or gantry tilt."""
    first = series.slices[0]
    for item in series.slices:
        _check_slice(item, first, folder)
    normal = _slice_normal(first.orientation)
    ordered = sorted(series.slices, key=lambda s: float(s.position @ normal))
    heights = np.array([float(s.position @ normal) for s in ordered])
    notes: list[str] = []
    if len(ordered) < 2:
        return ordered, notes
    gaps = np.diff(heights)
    if gaps.min() < 1e-3:
        raise LivsegInputError("two slices of the series lie at the same position", folder)
    mean_gap = (heights[-1] - heights[0]) / (len(ordered) - 1)
    median_gap = float(np.median(gaps))
    if gaps.max() > LARGEST_GAP_RATIO * median_gap:
        k = int(np.argmax(gaps))
        raise LivsegInputError(f"has a gap of {gaps[k]:.3g} mm between slices {k} and {k + 1} "
                               f"(the usual gap is {median_gap:.3g} mm): too many slices are "
                               "missing to rebuild the volume", folder)
    if np.abs(gaps - mean_gap).max() > UNEVEN_SPACING_TOLERANCE * mean_gap:
        count = int(round((heights[-1] - heights[0]) / median_gap)) + 1
        notes.append(f"uneven slice spacing: gaps from {gaps.min():.3g} to {gaps.max():.3g} mm "
                     f"(missing slices?); resampled to {count} slices every "
                     f"{(heights[-1] - heights[0]) / (count - 1):.4g} mm, linearly along the "
                     "slice normal")
    stacking = ordered[-1].position - ordered[0].position
    cosine = float(np.clip(stacking @ normal / np.linalg.norm(stacking), -1.0, 1.0))
    tilt = math.degrees(math.acos(cosine))
    if tilt > GANTRY_TILT_TOLERANCE_DEG:
        notes.append(f"gantry tilt of {tilt:.2f} degrees: slices are not stacked along their "
                     "normal; the volume is treated as untilted")
    return ordered, notes


def choose_series(paths: list[Path], source: Path, uid: str | None = None) -> DicomSeries:
    """The one CT image series among ``paths`` (read from ``source``), or the series ``uid``,
    or a clear error."""
    series = find_series(paths)
    if not series:
        unplaced = sum(1 for path in paths if (header := _read_header(path)) is not None
                       and "Rows" in header and "ImagePositionPatient" not in header)
        if unplaced:
            raise LivsegInputError(f"holds {unplaced} DICOM image(s) without "
                                   "ImagePositionPatient: where each slice lies is unknown, "
                                   "so no volume can be built", source)
        what = "holds no DICOM image series" if source.is_dir() else "is not a DICOM CT image"
        raise LivsegInputError(what, source)
    if uid is not None:
        chosen = [s for s in series if s.uid == uid]
        if not chosen:
            listing = "; ".join(s.summary() for s in series)
            raise LivsegInputError(f"holds no series {uid}; it holds {listing}", source)
        series = chosen
    if len(series) > 1:
        listing = "; ".join(s.summary() for s in sorted(series, key=lambda s: -len(s.slices)))
        raise LivsegInputError(f"holds {len(series)} DICOM image series, expected one (choose "
                               f"with --series UID): {listing}", source)
    chosen = series[0]
    if chosen.modality.upper() != "CT":
        raise LivsegInputError(f"is a {chosen.modality or 'unknown'}-modality series; "
                               "livseg reads CT only", source)
    return chosen


def ordered_series(source: str | Path, uid: str | None = None
                   ) -> tuple[DicomSeries, list[DicomSlice], list[str]]:
    """The chosen CT series of a folder (or one DICOM file), its slices in volume order
    (along the slice normal: index z of the Volume read from it) and notes."""
    folder = Path(source)
    paths = files_under(folder) if folder.is_dir() else [folder]
    series = choose_series(paths, folder, uid)
    ordered, notes = _order_and_check(series, folder)
    return series, ordered, notes


def _evenly_spaced(array: np.ndarray, heights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slices at ``heights`` (mm along the normal, increasing from 0), unchanged when evenly
    spaced, else linearly interpolated onto an even grid at the median gap (the inverse of
    this step is the same interpolation back to the original heights)."""
    gaps = np.diff(heights)
    mean_gap = heights[-1] / (len(heights) - 1)
    if np.abs(gaps - mean_gap).max() <= UNEVEN_SPACING_TOLERANCE * mean_gap:
        return array, heights
    count = int(round(heights[-1] / float(np.median(gaps)))) + 1
    target = np.linspace(0.0, heights[-1], count)
    upper = np.clip(np.searchsorted(heights, target, side="right"), 1, len(heights) - 1)
    lower = upper - 1
    weight = ((target - heights[lower]) / (heights[upper] - heights[lower]))[:, None, None]
    mixed = array[lower] * (1.0 - weight) + array[upper] * weight
    if np.issubdtype(array.dtype, np.integer):
        mixed = np.rint(mixed)
    return mixed.astype(array.dtype), target


def read_dicom_series(source: str | Path, uid: str | None = None,
                      limits: ReadLimits = DEFAULT_LIMITS) -> Volume:
    """Read the one CT series in a folder (or a single DICOM file), or the series ``uid``,
    as a Volume in HU.

    Slices are ordered by their position along the slice normal; the slice spacing is taken
    from the positions. Unevenly spaced slices (missing ones) are resampled onto an even
    grid, refused when a gap is wider than LARGEST_GAP_RATIO usual gaps; this and gantry
    tilt are logged and kept in ``Volume.notes``. The slices' declared size is checked
    against ``limits`` before any pixel is decoded.
    """
    folder = Path(source)
    _, ordered, notes = ordered_series(folder, uid)
    check_declared_size((ordered[0].columns, ordered[0].rows, len(ordered)), folder, limits)
    _check_pixel_data(ordered, folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(s.path) for s in ordered])
    try:
        with native_output_logged():
            image = reader.Execute()
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1]
        raise LivsegInputError(f"cannot decode the DICOM pixel data ({reason})", folder) from None
    array = sitk.GetArrayFromImage(image)
    if array.shape != (len(ordered), ordered[0].rows, ordered[0].columns):
        raise LivsegInputError(f"decoded to shape {array.shape}, which does not match the "
                               "slice headers", folder)
    first = ordered[0]
    normal = _slice_normal(first.orientation)
    heights = np.array([float((s.position - first.position) @ normal) for s in ordered])
    if len(ordered) > 1:
        array, heights = _evenly_spaced(array, heights)
        slice_gap = float(heights[-1] / (len(heights) - 1))
    else:
        slice_gap = first.slice_thickness or 1.0
    direction = np.column_stack([first.orientation[:3], first.orientation[3:], normal])
    spacing = (first.pixel_spacing[1], first.pixel_spacing[0], slice_gap)  # checked, not GDCM's
    check_grid(array.shape, spacing, first.position, direction.ravel(), folder)
    for note in notes:
        log.warning("%s: %s", folder, note)
    return Volume(array=array, spacing=spacing,
                  origin=tuple(first.position), direction=tuple(direction.ravel()),
                  notes=tuple(notes))
