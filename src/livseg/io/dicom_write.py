"""Writing a CT as a DICOM series (one file per axial slice), with pydicom.

``livseg bench`` times ``livseg predict`` on a DICOM series made this way, and the tests
build series with odd geometry, rescaling or headers from ``write_ct_slices``. The files
are plain uncompressed CT Image Storage, enough for livseg's reader and for any viewer.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from livseg.io.volume import Volume


def write_dicom_series(volume: Volume, folder: Path, *, intercept: float = -1024.0) -> str:
    """``volume`` (HU) as one file per slice of its array in ``folder``, positions and
    orientation from its geometry, stored as uint16 = HU - ``intercept``; returns the
    series UID. The slices keep the array's order along its third axis."""
    matrix = volume.direction_matrix
    stored = np.clip(np.rint(volume.array.astype(np.float64) - intercept), 0, 65535)
    positions = [tuple(volume.index_to_physical(np.array([z, 0.0, 0.0])))
                 for z in range(volume.shape[0])]
    orientation = (*matrix[:, 0], *matrix[:, 1])
    return write_ct_slices(folder, stored.astype(np.uint16), positions, intercept=intercept,
                           orientation=orientation,
                           pixel_spacing=(volume.spacing[1], volume.spacing[0]),
                           slice_thickness=volume.spacing[2])


def write_ct_slices(folder: Path, stored: np.ndarray, positions: Sequence[Sequence[float]], *,
                    slope: float = 1.0, intercept: float = -1024.0, modality: str = "CT",
                    orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
                    pixel_spacing: Sequence[float] = (0.8, 0.7),
                    series_uid: str | None = None, names: list[str] | None = None,
                    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
                    rescale: bool = True, slice_thickness: float = 2.0) -> str:
    """One file per slice of ``stored`` (z, rows, cols uint16 stored values) at
    ``positions`` (ImagePositionPatient, mm); returns the series UID. ``rescale=False``
    leaves out RescaleSlope and RescaleIntercept (raw stored values)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid, frame_of_reference = generate_uid(), generate_uid()
    for index, (pixels, position) in enumerate(zip(stored, positions, strict=True)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        name = names[index] if names else f"slice{index:03d}.dcm"
        ds = FileDataset(str(folder / name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_of_reference
        ds.Modality = modality
        ds.PatientID = "SYNTH"
        ds.ImageType = list(image_type)
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [float(p) for p in position]
        ds.ImageOrientationPatient = [float(o) for o in orientation]
        ds.PixelSpacing = [float(s) for s in pixel_spacing]
        ds.SliceThickness = float(slice_thickness)
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        if rescale:
            ds.RescaleSlope = slope
            ds.RescaleIntercept = intercept
        ds.PixelData = np.ascontiguousarray(pixels.astype(np.uint16)).tobytes()
        ds.save_as(folder / name, enforce_file_format=True)
    return series_uid
