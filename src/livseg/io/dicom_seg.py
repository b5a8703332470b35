"""DICOM Segmentation objects (highdicom) for a label map of a DICOM CT series.

The SEG references the source series and every source instance (one frame per source slice
and segment), and codes its two segments with SNOMED CT: liver (10200004, an anatomical
structure) and neoplasm (108369006, a morphologically abnormal structure), made by an
automatic algorithm (livseg's cascade). Viewers such as 3D Slicer and OHIF read it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from livseg._version import __version__
from livseg.errors import LivsegInputError
from livseg.io.text import atomic_output
from livseg.io.volume import Volume

#: (segment number = label value, label, category, type): SNOMED CT codes via pydicom
SEGMENTS = ((1, "liver", "AnatomicalStructure", "Liver"),
            (2, "liver tumour", "MorphologicallyAbnormalStructure", "Neoplasm"))


def write_dicom_seg(labels: Volume, series_folder: Path, path: Path,
                    series_uid: str | None = None) -> Path:
    """Write ``labels`` (0/1/2 on the grid of the DICOM series read from ``series_folder``)
    as a DICOM SEG to ``path``, atomically. Liver voxels are segment 1; tumour voxels
    (label 2) are segment 2 (and, being liver tissue, not segment 1)."""
    try:
        import highdicom as hd
        import pydicom
        from pydicom.sr.codedict import codes
    except ImportError as error:
        raise LivsegInputError(f"--dicom-seg needs {error.name} (pip install highdicom)"
                               ) from None
    from livseg.io.dicom import ordered_series

    _, ordered, _ = ordered_series(series_folder, series_uid)
    if len(ordered) != labels.shape[0]:
        raise LivsegInputError(f"has {len(ordered)} unevenly spaced slices, resampled to "
                               f"{labels.shape[0]} for segmentation; a DICOM SEG needs one "
                               "frame per source slice", series_folder)
    sources = [_with_identity(pydicom.dcmread(s.path)) for s in ordered]  # z of the labels
    algorithm = hd.AlgorithmIdentificationSequence(
        name="livseg cascade of two Mobile U-Nets", version=__version__,
        family=codes.cid7162.ArtificialIntelligence)
    descriptions = [hd.seg.SegmentDescription(
        segment_number=number, segment_label=label,
        segmented_property_category=getattr(codes.SCT, category),
        segmented_property_type=getattr(codes.SCT, kind),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
        tracking_uid=hd.UID(), tracking_id=f"livseg {label}")
        for number, label, category, kind in SEGMENTS]
    masks = np.stack([labels.array == number for number, *_ in SEGMENTS], axis=-1)
    first = sources[0]
    segmentation = hd.seg.Segmentation(
        source_images=sources, pixel_array=masks.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(),
        series_number=int(getattr(first, "SeriesNumber", 0) or 0) + 1000,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="livseg",
        manufacturer_model_name="livseg", software_versions=__version__,
        device_serial_number="livseg", series_description="livseg liver and tumours",
        omit_empty_frames=False)
    with atomic_output(path) as temporary:
        segmentation.save_as(temporary)
    return Path(path)


#: Type 2 patient and study attributes that a SEG copies from its source: present, maybe empty
PATIENT_STUDY_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                       "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID",
                       "AccessionNumber")


def _with_identity(dataset):
    """Real files may leave SOPClassUID / SOPInstanceUID empty in the data set and keep them
    only in the file meta information, or omit Type 2 patient and study attributes; the SEG
    must reference and copy them, so fill them in (the in-memory copy only)."""
    for key in PATIENT_STUDY_TYPE2:
        if key not in dataset:
            setattr(dataset, key, "")
    meta = getattr(dataset, "file_meta", None)
    for key, meta_key in (("SOPClassUID", "MediaStorageSOPClassUID"),
                          ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
        if not str(dataset.get(key, "") or "") and meta is not None and meta.get(meta_key):
            setattr(dataset, key, meta.get(meta_key))
    if not str(dataset.get("FrameOfReferenceUID", "") or ""):
        raise LivsegInputError("has no FrameOfReferenceUID: a DICOM SEG could not be aligned "
                               "with it", Path(dataset.filename))
    if not str(dataset.get("SOPInstanceUID", "") or ""):
        raise LivsegInputError("has no SOPInstanceUID: a DICOM SEG cannot reference it",
                               Path(dataset.filename))
    return dataset


def read_dicom_seg_labels(path: Path, reference: Volume, series_folder: Path,
                          series_uid: str | None = None) -> np.ndarray:
    """The label map (0/1/2, on ``reference``'s grid) that a SEG written by
    :func:`write_dicom_seg` holds, decoded frame by frame with pydicom (a check of the
    round trip; not a general SEG reader)."""
    import pydicom

    from livseg.io.dicom import ordered_series

    _, ordered, _ = ordered_series(series_folder, series_uid)
    position = {_with_identity(pydicom.dcmread(s.path, stop_before_pixels=True)).SOPInstanceUID: z
                for z, s in enumerate(ordered)}
    seg = pydicom.dcmread(path)
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    out = np.zeros(reference.shape, np.uint8)
    for frame, item in zip(frames, seg.PerFrameFunctionalGroupsSequence, strict=True):
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        source = item.DerivationImageSequence[0].SourceImageSequence[0]
        z = position[source.ReferencedSOPInstanceUID]
        out[z][frame.astype(bool)] = number
    return out
