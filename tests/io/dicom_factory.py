"""Writing small synthetic DICOM CT series with pydicom, for reader tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def write_series(folder: Path, stored: np.ndarray, positions: list[tuple[float, float, float]],
                 *, slope: float = 1.0, intercept: float = -1024.0, modality: str = "CT",
                 orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), pixel_spacing=(0.8, 0.7),
                 series_uid: str | None = None, names: list[str] | None = None,
                 image_type=("ORIGINAL", "PRIMARY", "AXIAL"), rescale: bool = True) -> str:
    """One file per slice of ``stored`` (z, rows, cols uint16 stored values); returns the UID.
    ``rescale=False`` leaves out RescaleSlope and RescaleIntercept (raw stored values)."""
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
        ds.SliceThickness = 2.0
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
