"""Hostile input through the command line: exit 2 with one line on stderr, within seconds
and bounded memory, and nothing written; a malicious checkpoint runs no code."""
from __future__ import annotations

import ctypes
import os
import pickle
import resource
import signal
import stat
from pathlib import Path

import pytest

from livseg.cli import main
from livseg.io import write_volume
from tests.io import hostile_files as hostile
from tests.livseg_process import run_livseg

SECONDS = 10.0
MEMORY_BYTES = 2**30
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 24, 1, 2, 3


def _one_line(stderr: str, *words: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livseg: error:"), stderr
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("make,words", [
    (hostile.nifti_bomb, "20000x20000"),
    (hostile.huge_dicom, "65535x65535"),
    (hostile.nifti_lying_small, "more than the"),
])
def test_bombs_are_refused_in_seconds_and_little_memory(tmp_path, make, words):
    bomb = make(tmp_path)
    code, stderr, seconds, peak = run_livseg(["predict", str(bomb), "-o", str(tmp_path / "out")])
    assert code == 2
    _one_line(stderr, str(bomb), words)
    assert seconds < SECONDS and peak < MEMORY_BYTES, (seconds, peak)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("make,words", [
    (hostile.detached_mha, "/etc/passwd"),
    (hostile.detached_nrrd, "/etc/passwd"),
    (hostile.crc_corrupt, "gzip"),
    (hostile.unrescaled_ct, "rescale"),
    (hostile.unrescaled_dicom, "rescale"),
    (hostile.nan_nifti, "NaN"),
])
def test_bad_files_get_exit_2_and_nothing_written(tmp_path, capsys, make, words):
    bad = make(tmp_path)
    assert main(["predict", str(bad), "-o", str(tmp_path / "out")]) == 2
    _one_line(capsys.readouterr().err, str(bad), words)
    assert not (tmp_path / "out").exists()


def test_a_huge_spacing_is_refused_not_a_memory_error(tmp_path, capsys):
    ct = hostile.phantom_ct()
    bad = write_volume(type(ct)(ct.array, (1e5, 1e5, 1e5)), tmp_path / "far.nii.gz")
    assert main(["predict", str(bad), "-o", str(tmp_path / "out")]) == 2
    _one_line(capsys.readouterr().err, "voxel size")


@pytest.mark.parametrize("args", [
    ["predict", "CT", "-o", "OUT", "--batch-size", "-3"],
    ["predict", "CT", "-o", "OUT", "--batch-size", "0"],
    ["predict", "CT", "-o", "OUT", "--threads", "0"],
    ["predict", "CT", "-o", "OUT", "--min-lesion-mm3", "-1"],
    ["predict", "CT", "-o", "OUT", "--min-lesion-mm3", "nan"],
    ["predict", "CT", "-o", "OUT", "--tumour-threshold", "1.5"],
    ["predict", "CT", "-o", "OUT", "--tumour-threshold", "nan"],
    ["predict", "CT", "-o", "OUT", "--min-lesion-probability", "-0.1"],
    ["predict", "CT", "-o", "OUT", "--max-voxels", "0"],
    ["phantom", "-o", "OUT", "--shape", "0", "0", "0"],
    ["phantom", "-o", "OUT", "--spacing", "1e5", "1", "1"],
    ["phantom", "-o", "OUT", "--spacing", "0", "1", "1"],
    ["serve", "--port", "70000"],
    ["serve", "--workers", "0"],
    ["bench", "--repeats", "0"],
    ["train", "--out", "OUT", "--epochs", "0"],
    ["explain", "CT", "-o", "OUT", "--slice", "-1"],
])
def test_bad_numbers_are_refused_at_the_parser(tmp_path, capsys, args):
    args = [str(tmp_path / a) if a in ("CT", "OUT") else a for a in args]
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error:" in err
    assert not (tmp_path / "OUT").exists()


def test_a_phantom_larger_than_the_budget_is_refused(tmp_path, capsys):
    assert main(["phantom", "-o", str(tmp_path / "p"), "--shape", "4096", "4096", "4096"]) == 2
    _one_line(capsys.readouterr().err, "voxels")


@pytest.fixture
def readable_ct(tmp_path):
    return write_volume(hostile.phantom_ct(), tmp_path / "ct.nii.gz")


def _read_only_folder(parent: Path) -> tuple[Path, object]:
    """A folder this test's child process cannot write: made read-only, and, when the tests
    run as root (who writes anywhere), the child started without the capabilities that
    let root ignore permissions (dropped from its bounding set before exec)."""
    folder = parent / "read-only"
    folder.mkdir()
    os.chmod(folder, 0o555)
    if os.geteuid() != 0:
        return folder, None

    def without_root_overrides():
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
            if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    return folder, without_root_overrides


@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["predict", "CT", "-o", "OUT"], ["explain", "CT", "-o", "OUT"], ["demo", "--out", "OUT"],
    ["phantom", "-o", "OUT"], ["export", "--out", "OUT"],
    ["evaluate", "--pred", "CT", "--gt", "CT", "--json", "OUT/scores.json"]])
def test_a_read_only_output_folder_is_refused_before_any_work(readable_ct, command):
    folder, preexec = _read_only_folder(readable_ct.parent)
    out = folder / "results"
    args = [str(readable_ct) if a == "CT" else a.replace("OUT", str(out)) for a in command]
    code, stderr, seconds, _ = run_livseg(args, preexec)
    assert code == 2, stderr
    _one_line(stderr, "results", "cannot be written")
    assert not out.exists() and seconds < SECONDS


@pytest.mark.slow
def test_a_disk_that_fills_while_writing_gives_exit_2_and_nothing_half_written(readable_ct,
                                                                                tmp_path):
    def small_files():  # every file this process writes may hold 16 KB: a disk that fills
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))
    out = tmp_path / "out"
    code, stderr, _, _ = run_livseg(["predict", str(readable_ct), "-o", str(out)], small_files)
    assert code == 2, stderr
    _one_line(stderr, str(out), "could not write the results")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no staging left


class _WritesAMarker:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_malicious_checkpoint_runs_no_code(tmp_path, capsys, readable_ct, protocol):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"format": "livseg-checkpoint",
                                   "model_state": _WritesAMarker(marker)}, protocol=protocol))
    pickle.loads(evil.read_bytes())  # the file does what it says when unpickled freely
    assert marker.exists()
    marker.unlink()
    code = main(["predict", str(readable_ct), "-o", str(tmp_path / "out"),
                 "--liver-weights", str(evil)])
    assert code == 2
    _one_line(capsys.readouterr().err, "not a safe livseg checkpoint", "nothing of it was run")
    assert not marker.exists()
    assert stat.S_ISREG(evil.stat().st_mode)


def test_expected_os_errors_give_exit_2_and_unexpected_ones_stay_bugs(monkeypatch, capsys,
                                                                       tmp_path):
    def denied(args):
        raise PermissionError(13, "Permission denied", "/data/ct.nii.gz")

    monkeypatch.setattr("livseg.cli.scoring._cmd_info", denied)
    assert main(["info", "x"]) == 2
    _one_line(capsys.readouterr().err, "/data/ct.nii.gz", "Permission denied")

    def reset(args):
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr("livseg.cli.scoring._cmd_info", reset)
    with pytest.raises(ConnectionResetError):
        main(["info", "x"])


def test_a_disk_without_room_for_the_results_is_refused_first(tmp_path):
    from livseg.errors import LivsegInputError
    from livseg.io.text import check_writable_folder

    check_writable_folder(tmp_path / "a" / "b", needed_bytes=1)
    with pytest.raises(LivsegInputError, match="MB free on its disk"):
        check_writable_folder(tmp_path / "out", needed_bytes=2**62)
    (tmp_path / "file").write_text("x")
    with pytest.raises(LivsegInputError, match="is not a folder"):
        check_writable_folder(tmp_path / "file" / "out")
    assert not (tmp_path / "a").exists()


def _bad_weights(folder: Path) -> dict[str, tuple[Path, str, str]]:
    """Weight files a careless or hostile user may give: name -> (file, option, words)."""
    import json
    import shutil

    import torch

    from livseg.weights import WEIGHTS_DIR

    made = {}
    sidecar = json.loads((WEIGHTS_DIR / "onnx" / "liver.json").read_text())

    def onnx(name, data: bytes | None, change=None):
        path = folder / f"{name}.onnx"
        if data is None:
            shutil.copy(WEIGHTS_DIR / "onnx" / "liver.onnx", path)
        else:
            path.write_bytes(data)
        description = json.loads(json.dumps(sidecar))
        if change:
            change(description)
        path.with_suffix(".json").write_text(json.dumps(description))
        return path

    made["garbage onnx"] = (onnx("garbage", b"\x08\x01garbage" * 50), "--liver-weights",
                            "not a readable ONNX model")
    made["empty onnx"] = (onnx("empty", b""), "--liver-weights", "not a readable ONNX model")
    for value, words in ((0, "size multiple is 0;"), ("abc", "size multiple is 'abc'")):
        made[f"multiple {value}"] = (onnx(f"multiple{value}", None, lambda d, v=value:
                                          d["input"].update(size_multiple=v)),
                                     "--liver-weights", words)
    made["in_channels 1000"] = (onnx("channels", None, lambda d: d["checkpoint"]["input"]
                                     .update(in_channels=1000)), "--liver-weights",
                                "number of input slices is 1000")
    payload = torch.load(WEIGHTS_DIR / "liver_mobileunet.pt", weights_only=True)

    def checkpoint(name, change):
        copy = json.loads(json.dumps({k: v for k, v in payload.items() if k != "model_state"}))
        change(copy)
        path = folder / f"{name}.pt"
        torch.save({**copy, "model_state": payload["model_state"]}, path)
        return path

    made["unknown architecture"] = (checkpoint("arch", lambda d: d["architecture"].update(
        name="transformer")), "--liver-weights", "unknown architecture 'transformer'")
    made["nan window"] = (checkpoint("nan", lambda d: d["input"].update(
        window_hu=[float("nan"), 160.0])), "--liver-weights", "HU window is nan")
    made["width 1000"] = (checkpoint("wide", lambda d: d["architecture"].update(width=1000)),
                          "--liver-weights", "'width' is 1000")
    made["switch as text"] = (checkpoint("switch", lambda d: d["architecture"].update(
        full_resolution_head="yes")), "--liver-weights",
        "'full_resolution_head' is 'yes'; it must be true or false")
    made["tumour as liver"] = (WEIGHTS_DIR / "tumour_mobileunet.pt", "--liver-weights",
                               "tumour stage's weights, given as the liver")
    (folder / "folder.pt").mkdir()
    made["folder"] = (folder / "folder.pt", "--tumour-weights", "is a folder")
    return made


def test_bad_weight_files_get_exit_2_and_one_line(tmp_path, capsys, readable_ct):
    """Regression: each of these gave a traceback and exit 1 (or, tumour weights as the
    liver's, a 49 ml liver); a width of 1000 cost 27 s and 6.2 GB first."""
    for name, (path, option, words) in _bad_weights(tmp_path).items():
        code = main(["predict", str(readable_ct), "-o", str(tmp_path / "out"), option,
                     str(path)])
        assert code == 2, name
        _one_line(capsys.readouterr().err, path.stem, words)
        assert not (tmp_path / "out").exists()


def test_the_unpicklers_refusal_says_what_it_met_not_torchs_boilerplate(tmp_path, capsys,
                                                                         readable_ct):
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"format": "livseg-checkpoint",
                                   "model_state": _WritesAMarker(tmp_path / "m")}))
    main(["predict", str(readable_ct), "-o", str(tmp_path / "out"), "--liver-weights",
          str(evil)])
    line = capsys.readouterr().err
    assert "In PyTorch 2.6" not in line and "(1)" not in line, line
    assert "refused by the unpickler" not in line and "\x1b" not in line, line
