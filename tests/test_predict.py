"""predict_file: complete outputs on the input's grid, nothing half-written, no overwriting."""
from __future__ import annotations

import json

import numpy as np
import pytest

from livseg.errors import LivsegInputError
from livseg.infer import Cascade
from livseg.io import read_volume, write_volume
from livseg.predict import OUTPUT_FILES, predict_file

from .infer.threshold_stages import block_volume, threshold_stage


@pytest.fixture
def cascade() -> Cascade:
    return Cascade(threshold_stage("liver"), threshold_stage("tumour", pixel_mm=1.0))


@pytest.fixture
def ct_file(tmp_path):
    volume, expected = block_volume()
    path = write_volume(volume, tmp_path / "in" / "case.nrrd")
    return path, expected


def test_outputs_are_complete_and_on_the_input_grid(cascade, ct_file, tmp_path):
    path, expected = ct_file
    report = predict_file(path, tmp_path / "out", cascade, mesh="stl")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted([*OUTPUT_FILES, "liver.stl", "tumour.stl"])
    labels = read_volume(tmp_path / "out" / "segmentation.nii.gz")
    assert labels.same_grid(read_volume(path)) and labels.array.dtype == np.uint8
    assert ((labels.array == 2) == (expected == 2)).mean() > 0.99
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    assert on_disk == report and report["lesion_count"] == 1
    assert set(report["seconds"]) >= {"read", "liver_stage", "tumour_stage", "write", "total"}
    assert (tmp_path / "out" / "overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_existing_results_are_kept_unless_overwrite(cascade, ct_file, tmp_path):
    path, _ = ct_file
    out = tmp_path / "out"
    predict_file(path, out, cascade)
    before = (out / "report.json").stat().st_mtime_ns
    with pytest.raises(LivsegInputError, match="already holds .*--overwrite"):
        predict_file(path, out, cascade)
    assert (out / "report.json").stat().st_mtime_ns == before
    predict_file(path, out, cascade, overwrite=True)
    assert (out / "report.json").stat().st_mtime_ns != before


def test_an_existing_folder_keeps_its_other_files(cascade, ct_file, tmp_path):
    path, _ = ct_file
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "notes.txt").write_text("mine")
    predict_file(path, tmp_path / "shared", cascade)
    assert (tmp_path / "shared" / "notes.txt").read_text() == "mine"
    assert all((tmp_path / "shared" / name).exists() for name in OUTPUT_FILES)
    assert not [p for p in (tmp_path / "shared").iterdir() if p.name.startswith(".")]


def test_a_failure_leaves_no_output(cascade, ct_file, tmp_path, monkeypatch):
    path, _ = ct_file

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("livseg.viz.overlay.save_overlay", broken)
    with pytest.raises(RuntimeError):
        predict_file(path, tmp_path / "out", cascade)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in"]


def test_bad_input_leaves_no_output(cascade, tmp_path):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(LivsegInputError, match="bad.nii.gz"):
        predict_file(bad, tmp_path / "out", cascade)
    assert not (tmp_path / "out").exists()


def test_the_input_is_never_overwritten(cascade, tmp_path):
    volume, _ = block_volume()
    path = write_volume(volume.with_array(volume.array.astype(np.uint8) % 3),
                        tmp_path / "segmentation.nii.gz")
    before = path.read_bytes()
    with pytest.raises(LivsegInputError, match="would overwrite the input"):
        predict_file(path, tmp_path, cascade, overwrite=True)
    assert path.read_bytes() == before


def test_the_cases_of_a_folder_of_files(tmp_path, ct_file):
    from livseg.cohort import cohort_cases

    path, _ = ct_file
    write_volume(read_volume(path), path.parent / "second.nii.gz")
    (path.parent / "readme.txt").write_text("not a CT")
    assert [(c.name, c.path.name) for c in cohort_cases(path.parent)] == [
        ("case", "case.nrrd"), ("second", "second.nii.gz")]
