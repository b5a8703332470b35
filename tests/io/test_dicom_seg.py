"""DICOM SEG out: it references its source series and instances, codes liver and tumour,
and its frames decode to the label map; series chosen by UID."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom  # noqa: E402
import pytest

from livseg.cli import main
from livseg.errors import LivsegInputError
from livseg.io import read_volume, write_volume
from livseg.io.dicom_seg import read_dicom_seg_labels, write_dicom_seg  # noqa: E402
from livseg.phantom import make_phantom
from tests.conftest import shared_file
from tests.io.dicom_factory import write_series


def _phantom_series(folder: Path, blank_sop_class: bool = False):
    phantom = make_phantom(shape=(6, 40, 48), spacing=(2.0, 2.0, 4.0), n_tumours=1, seed=3)
    stored = (phantom.ct.array.astype(np.int32) + 1024).astype(np.uint16)
    uid = write_series(folder, stored, [(0.0, 0.0, 4.0 * k) for k in range(6)],
                       pixel_spacing=(2.0, 2.0))
    if blank_sop_class:  # as in real files: the data set's SOPClassUID left empty
        for path in sorted(folder.iterdir()):
            dataset = pydicom.dcmread(path)
            dataset.SOPClassUID = ""
            dataset.save_as(path)
    grid = read_volume(folder)
    return grid.with_array(phantom.labels.array.astype(np.uint8)), uid


def _check_seg(path: Path, labels, folder: Path, series_uid: str) -> None:
    seg = pydicom.dcmread(path)
    assert seg.Modality == "SEG" and seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == series_uid
    sources = {pydicom.dcmread(p, stop_before_pixels=True).file_meta.MediaStorageSOPInstanceUID
               for p in folder.iterdir()}
    assert {item.ReferencedSOPInstanceUID
            for item in referenced.ReferencedInstanceSequence} == sources
    segments = {int(s.SegmentNumber): s for s in seg.SegmentSequence}
    assert segments[1].SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"  # liver
    assert segments[2].SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"  # neoplasm
    assert segments[1].SegmentAlgorithmType == "AUTOMATIC"
    decoded = read_dicom_seg_labels(path, labels, folder, series_uid)
    assert (decoded == labels.array).all()


@pytest.mark.parametrize("blank_sop_class", [False, True])
def test_seg_round_trip_on_a_synthetic_series(tmp_path, blank_sop_class):
    labels, uid = _phantom_series(tmp_path / "ct", blank_sop_class)
    assert (labels.array == 2).any() and (labels.array == 1).any()
    write_dicom_seg(labels, tmp_path / "ct", tmp_path / "seg.dcm")
    _check_seg(tmp_path / "seg.dcm", labels, tmp_path / "ct", uid)


def test_a_series_is_chosen_by_uid(tmp_path):
    labels, uid = _phantom_series(tmp_path / "a")
    write_series(tmp_path / "b", np.zeros((2, 40, 48), np.uint16), [(0, 0, 0), (0, 0, 4)])
    with pytest.raises(LivsegInputError, match="--series UID"):
        read_volume(tmp_path)
    assert read_volume(tmp_path, series=uid).shape == labels.shape
    with pytest.raises(LivsegInputError, match="holds no series 1.2.3"):
        read_volume(tmp_path, series="1.2.3")
    write_dicom_seg(labels, tmp_path, tmp_path / "seg.dcm", series_uid=uid)
    _check_seg(tmp_path / "seg.dcm", labels, tmp_path / "a", uid)


def test_dicom_seg_of_a_nifti_input_is_refused(tmp_path, capsys):
    phantom = make_phantom(shape=(6, 40, 48), n_tumours=0, seed=1)
    ct = write_volume(phantom.ct, tmp_path / "ct.nii.gz")
    assert main(["predict", str(ct), "-o", str(tmp_path / "out"), "--dicom-seg"]) == 2
    assert "--dicom-seg needs a DICOM series" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_predict_writes_a_seg_for_a_real_dicom_series(tmp_path):
    series = shared_file("totalseg_dicom20/dicom")
    assert main(["predict", str(series), "-o", str(tmp_path / "out"), "--dicom-seg"]) == 0
    labels = read_volume(tmp_path / "out" / "segmentation.nii.gz")
    first = pydicom.dcmread(sorted(series.iterdir())[0], stop_before_pixels=True)
    _check_seg(tmp_path / "out" / "segmentation.dcm", labels, series, first.SeriesInstanceUID)
