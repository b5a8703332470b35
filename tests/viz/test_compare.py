"""Evaluation pictures pick the slices where prediction and reference disagree most."""
from __future__ import annotations

import numpy as np

from livseg.cli import main
from livseg.io import write_volume
from livseg.viz.compare import most_disputed_slices

from ..infer.threshold_stages import block_volume


def test_most_disputed_slices_ranks_by_differing_voxels():
    reference = np.zeros((6, 8, 8), np.uint8)
    reference[1:5, 2:6, 2:6] = 1
    prediction = reference.copy()
    prediction[1, 2:4, 2:6] = 0  # 8 voxels differ
    prediction[3, 2:3, 2:4] = 2  # 2 voxels differ, tumour: counted twice -> 4
    prediction[4, 2, 2] = 0  # 1 voxel
    assert most_disputed_slices(reference, prediction, 2) == [1, 3]
    assert most_disputed_slices(reference, prediction, 5) == [1, 3, 4]
    assert most_disputed_slices(reference, reference, 2) == [1, 2]  # agree: most liver


def test_evaluate_writes_one_picture_per_case(tmp_path, capsys):
    volume, expected = block_volume()
    write_volume(volume, tmp_path / "images" / "case.nii.gz")
    write_volume(volume.with_array(expected), tmp_path / "gt" / "case.nii.gz")
    shifted = np.roll(expected, 2, axis=1)
    write_volume(volume.with_array(shifted), tmp_path / "pred" / "case.nii.gz")
    code = main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                 "--images", str(tmp_path / "images"), "--pictures", str(tmp_path / "pics")])
    assert code == 0
    assert (tmp_path / "pics" / "case.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                 "--pictures", str(tmp_path / "pics")]) == 2
    assert "--images and --pictures go together" in capsys.readouterr().err
