"""``livseg train`` end to end on phantoms: outputs, resume after a kill, Ctrl-C, DDP."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from livseg.models.checkpoint import load_model, read_checkpoint

SHIPPED_LIVER = Path(__file__).parents[2] / "src/livseg/weights/liver_mobileunet.pt"
TINY = {"size": [64, 64], "batch_size": 4, "montage_slices": 3, "threads": 1, "lr": 0.003}


def _config(tmp_path: Path, **extra) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**TINY, **extra}))
    return path


def _livseg(*args, wait=True):
    command = [sys.executable, "-m", "livseg", *map(str, args)]
    if wait:
        return subprocess.run(command, capture_output=True, text=True, timeout=600)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.slow
def test_two_epochs_leave_every_artefact(tmp_path):
    run = tmp_path / "run"
    result = _livseg("train", "--data", "phantom:3", "--epochs", "2", "--out", run,
                     "--config", _config(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ("metrics.csv", "curves.png", "best.pt", "last.pt",
                 "snapshots/epoch_001.png", "snapshots/epoch_002.png"):
        assert (run / name).is_file(), name
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_loss", "val_dice", "val_accuracy", "val_sensitivity",
            "val_specificity"} <= set(rows[0])
    model, description = load_model(run / "best.pt")
    assert description["architecture"]["name"] == "mobileunet"
    assert description["input"]["window_hu"] == [0.0, 255.0]
    assert description["labels"] == {"0": "background", "1": "liver"}
    assert set(description["training"]["train_volumes"]).isdisjoint(
        description["training"]["validation_volumes"])
    assert model(torch.zeros(1, 1, 64, 64)).shape == (1, 2, 64, 64)
    again = _livseg("train", "--data", "phantom:3", "--out", run)
    assert again.returncode == 2 and "--resume" in again.stderr


KILL_TEST_STEPS = 15


def _kill_test_args(folder: Path) -> tuple:
    config = _config(folder, max_steps_per_epoch=KILL_TEST_STEPS)
    return ("--data", "phantom:3", "--epochs", "3", "--config", config)


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted")
    result = _livseg("train", *_kill_test_args(folder), "--out", folder / "run")
    assert result.returncode == 0, result.stderr
    return folder / "run"


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM])
def test_killed_mid_epoch_resumes_as_if_never_stopped(tmp_path, stop_signal,
                                                      uninterrupted_run):
    """A crash (SIGKILL) and a polite stop (SIGTERM from a scheduler; Ctrl-C's SIGINT goes to
    the same handler, see test_both_stop_signals_share_one_handler) resume identically."""
    common = _kill_test_args(tmp_path)
    whole = uninterrupted_run
    broken = tmp_path / "broken"
    process = _livseg("train", *common, "--out", broken, wait=False)
    deadline = time.time() + 300
    while not (broken / "snapshots" / "epoch_001.png").exists() and time.time() < deadline:
        time.sleep(0.02)  # the montage is the last thing written for an epoch
    time.sleep(0.2)  # inside epoch 2's steps
    process.send_signal(stop_signal)
    code = process.wait(timeout=120)
    assert read_checkpoint(broken / "last.pt")["resume"]["epoch"] == 1, "kill came too late"
    if stop_signal != signal.SIGKILL:
        assert code == 130 and (broken / "interrupted.pt").is_file()
        assert "--resume continues after epoch 1" in process.stderr.read()
    resumed = _livseg("train", "--resume", "--out", broken)
    assert resumed.returncode == 0, resumed.stderr
    expected, got = _rows(whole), _rows(broken)
    assert [r["epoch"] for r in got] == ["1", "2", "3"]
    for want, have in zip(expected, got, strict=True):
        assert float(have["lr"]) == pytest.approx(float(want["lr"]), rel=1e-9)
        assert float(have["val_loss"]) == pytest.approx(float(want["val_loss"]), rel=1e-4)
    a = read_checkpoint(whole / "last.pt")["model_state"]
    b = read_checkpoint(broken / "last.pt")["model_state"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


@pytest.mark.slow
def test_init_from_copies_matching_weights(tmp_path):
    """A tumour stage started from the shipped liver stage (same network) holds exactly its
    weights after a step at learning rate 0."""
    run = tmp_path / "tumour"
    config = _config(tmp_path, lr=0.0, max_steps_per_epoch=1, arch_args={"width": 1.5},
                     montage_slices=0)
    result = _livseg("train", "--stage", "tumour", "--data", "phantom:2", "--epochs", "1",
                     "--out", run, "--init-from", SHIPPED_LIVER, "--config", config)
    assert result.returncode == 0, result.stderr
    assert "initialised" in result.stderr
    assert load_model(run / "last.pt")[1]["labels"]["1"] == "tumour"
    shipped = read_checkpoint(SHIPPED_LIVER)["model_state"]
    trained = read_checkpoint(run / "last.pt")["model_state"]
    weights = [k for k in shipped if not k.endswith(("running_mean", "running_var",
                                                     "num_batches_tracked"))]
    assert len(weights) > 100 and set(trained) == set(shipped)
    assert all(torch.equal(trained[k], shipped[k]) for k in weights)


@pytest.mark.slow
def test_ddp_with_two_gloo_processes(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun, "torchrun ships with torch"
    run = tmp_path / "ddp"
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "livseg", "train",
         "--data", "phantom:4", "--epochs", "2", "--device", "cpu", "--out", str(run),
         "--config", str(_config(tmp_path, max_steps_per_epoch=3))],
        capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    description = read_checkpoint(run / "last.pt")
    assert description["training"]["world_size"] == 2
    assert len(_rows(run)) == 2
    # each step took batch_size slices on each of the two ranks
    assert float(_rows(run)[0]["train_slices_per_second"]) > 0
    # the two ranks held the same weights after every epoch (training stops otherwise)
    assert [float(row["ranks_weight_spread"]) for row in _rows(run)] == [0.0, 0.0]


@pytest.mark.slow
def test_a_split_file_decides_the_validation_volumes(tmp_path):
    """--split and --fold reach the data (tests/test_splits.py covers the split's own
    validation volumes and every fold at the function level)."""
    fold, held_out = 0, ["phantom0"]
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["phantom0", "phantom1"], "validation": ["phantom2"],
                                 "folds": [["phantom0"], ["phantom1", "phantom2"]]}))
    run = tmp_path / "run"
    result = _livseg("train", "--data", "phantom:3", "--epochs", "1", "--max-steps", "2",
                     "--out", run, "--config", _config(tmp_path), "--split", split,
                     "--fold", fold)
    assert result.returncode == 0, result.stderr
    training = read_checkpoint(run / "last.pt")["training"]
    assert training["validation_volumes"] == held_out
    assert set(training["train_volumes"]) == {"phantom0", "phantom1", "phantom2"} - set(held_out)
    assert training["recipe"]["split"] == str(split) and training["recipe"]["fold"] == fold


def test_a_2_5d_network_started_from_a_single_slice_one_answers_as_it_did():
    """--init-from a 1-slice checkpoint: the 5-slice network gives the old network's logits
    whatever its neighbouring slices hold, so fine-tuning starts where the old one stood."""
    from livseg.models import build_model
    from livseg.train.checkpoint import load_matching_weights

    shipped = SHIPPED_LIVER
    old, description = load_model(shipped)
    arguments = {**description["architecture"], "in_channels": 5}
    grown = build_model(arguments.pop("name"), **arguments)
    loaded, total = load_matching_weights(grown, shipped)
    assert loaded == total
    middle = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    neighbours = torch.rand(2, 5, 64, 64, generator=torch.Generator().manual_seed(1))
    neighbours[:, 2:3] = middle
    with torch.no_grad():
        torch.testing.assert_close(grown.eval()(neighbours), old.eval()(middle),
                                   atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_resume_from_a_truncated_last_checkpoint_is_a_clear_error(tmp_path, uninterrupted_run):
    """A disk that filled while last.pt was replaced cannot happen (it is written aside and
    renamed), but a copied or damaged run folder can hold half a last.pt: exit 2, one line."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(uninterrupted_run, run)
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 2])
    resumed = _livseg("train", "--resume", "--out", run)
    assert resumed.returncode == 2
    error = resumed.stderr.strip().splitlines()
    assert len(error) == 1 and "last.pt" in error[0] and "checkpoint" in error[0]


def test_both_stop_signals_share_one_handler(tmp_path, monkeypatch):
    """Ctrl-C (SIGINT) and a scheduler's SIGTERM take the same path: the handler the kill
    test above exercises with SIGTERM."""
    from livseg.cli import main

    installed = {}
    monkeypatch.setattr("livseg.cli.training.signal.signal",
                        lambda number, handler: installed.__setitem__(number, handler))
    assert main(["train", "--out", str(tmp_path / "run")]) == 2  # no --data: refused
    assert installed[signal.SIGINT] is installed[signal.SIGTERM]
    with pytest.raises(KeyboardInterrupt):
        installed[signal.SIGINT](signal.SIGINT, None)
