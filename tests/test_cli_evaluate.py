"""``livseg evaluate`` end to end, including its answers to bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from livseg.cli import main
from livseg.io import Volume, write_volume


def _labels(tmp_path, name, array, spacing=(1.0, 1.0, 2.0)):
    return write_volume(Volume(array.astype(np.uint8), spacing=spacing), tmp_path / name)


@pytest.fixture
def pair(tmp_path, small_phantom):
    ref = small_phantom.labels
    pred = ref.array.copy()
    pred[pred == 2] = 1
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    write_volume(ref.with_array(pred), tmp_path / "pred" / "case1.nii.gz")
    write_volume(ref, tmp_path / "gt" / "case1.nii.gz")
    write_volume(ref, tmp_path / "pred" / "case2.nii.gz")
    write_volume(ref, tmp_path / "gt" / "case2.nii.gz")
    return tmp_path


def test_folders_matched_by_name_give_json_and_csv(pair, capsys):
    code = main(["evaluate", "--pred", str(pair / "pred"), "--gt", str(pair / "gt"),
                 "--json", str(pair / "out.json"), "--csv", str(pair / "out.csv")])
    assert code == 0
    report = json.loads((pair / "out.json").read_text())
    assert [c["case"] for c in report["cases"]] == ["case1", "case2"]
    assert report["cases"][0]["tumour"]["dice"] == 0.0
    assert report["cases"][1]["tumour"]["dice"] == 1.0
    assert report["aggregate"]["tumour"]["dice_per_case"] == 0.5
    assert report["cases"][0]["liver"]["dice"] == 1.0  # liver includes tumour
    lines = (pair / "out.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("case,liver_dice,")
    assert "case1" in capsys.readouterr().out


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "livseg", *args], capture_output=True,
                          text=True, timeout=120)


def _run_here(capfd, *args) -> subprocess.CompletedProcess:
    """``livseg ARGS`` in this process, with what it wrote (capfd also sees what C libraries
    write to the descriptors); the whole command in a child: _run_cli."""
    code = main([str(arg) for arg in args])
    return subprocess.CompletedProcess(args, code, *capfd.readouterr())


def _assert_clean_refusal(result, fragment, out_dir):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (out_dir / "report.json").exists()


def test_bad_inputs_exit_2_with_one_line(tmp_path, capfd, caplog):
    good = np.zeros((4, 5, 6), np.uint8)
    good[1:3, 1:4, 1:5] = 1
    gt = _labels(tmp_path, "gt.nii.gz", good)
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    (tmp_path / "noise.nii.gz").write_bytes(np.random.default_rng(0).bytes(999))
    (tmp_path / "text.nrrd").write_text("hello")
    odd = good.copy()
    odd[0, 0, 0] = 7
    _labels(tmp_path, "values.nii.gz", odd)
    _labels(tmp_path, "grid.nii.gz", good, spacing=(1.0, 1.0, 3.0))
    _labels(tmp_path, "shape.nii.gz", np.zeros((4, 5, 7)))
    (tmp_path / "nodicom").mkdir()
    cases = {"missing.nii.gz": "does not exist", "empty.nii.gz": "empty file",
             "noise.nii.gz": "not a gzip", "text.nrrd": "not a readable image",
             "values.nii.gz": "label values 7", "grid.nii.gz": "another grid",
             "shape.nii.gz": "another grid", "nodicom": "both be files or both be folders"}
    report = tmp_path / "report.json"
    for name, fragment in cases.items():
        caplog.clear()
        result = _run_here(capfd, "evaluate", "--pred", tmp_path / name, "--gt", gt,
                           "--json", report)
        _assert_clean_refusal(result, fragment, tmp_path)
        assert not caplog.records, caplog.text  # no warning beside the one line


def test_missing_prediction_in_folder_is_named(pair):
    (pair / "pred" / "case2.nii.gz").unlink()
    result = _run_cli("evaluate", "--pred", str(pair / "pred"), "--gt", str(pair / "gt"),
                      "--json", str(pair / "report.json"))
    _assert_clean_refusal(result, "no prediction for 1 reference file(s): case2.nii.gz", pair)


def test_bad_arguments_exit_2_with_one_line():
    result = _run_cli("evaluate", "--pred")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_info_reads_a_dicom_series_and_refuses_bad_folders(tmp_path, capfd):
    from tests.io.dicom_factory import write_series

    stored = np.zeros((3, 4, 5), np.uint16)
    write_series(tmp_path / "ct", stored, [(0, 0, 2.0 * k) for k in range(3)])
    result = _run_here(capfd, "info", tmp_path / "ct")
    assert result.returncode == 0 and "spacing 0.7x0.8x2 mm" in result.stdout
    write_series(tmp_path / "two" / "a", stored, [(0, 0, 2.0 * k) for k in range(3)])
    write_series(tmp_path / "two" / "b", stored[:2], [(0, 0, 2.0 * k) for k in range(2)])
    write_series(tmp_path / "mr", stored, [(0, 0, 2.0 * k) for k in range(3)], modality="MR")
    (tmp_path / "empty").mkdir()
    for folder, fragment in (("two", "holds 2 DICOM image series"), ("mr", "reads CT only"),
                             ("empty", "holds no DICOM image series")):
        _assert_clean_refusal(_run_here(capfd, "info", tmp_path / folder), fragment, tmp_path)
