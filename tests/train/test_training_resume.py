"""``livseg train`` stopped and resumed: a kill mid-epoch (SIGKILL, SIGTERM) resumes as if
never stopped; both stop signals share one handler; a truncated last.pt is a clear error.
Its own file, so that the parallel test run puts it on one worker beside the other
training tests (the runs they compare against are built once per file)."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import torch

from livseg.models.checkpoint import read_checkpoint

from .runs import ForkedLivseg, livseg_here, metrics_rows, tiny_config

KILL_TEST_STEPS = 15


def _kill_test_args(folder: Path) -> tuple:
    config = tiny_config(folder, max_steps_per_epoch=KILL_TEST_STEPS)
    return ("--data", "phantom:3", "--epochs", "2", "--config", config)


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted")
    assert livseg_here("train", *_kill_test_args(folder), "--out", folder / "run") == 0
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
    process = ForkedLivseg(("train", *common, "--out", broken), stderr=tmp_path / "stderr")
    deadline = time.time() + 120
    while not (broken / "snapshots" / "epoch_001.png").exists():
        time.sleep(0.02)  # the montage is the last thing written for an epoch
        assert process.alive() and time.time() < deadline, process.stderr()
    time.sleep(0.2)  # inside epoch 2's steps
    process.send_signal(stop_signal)
    code = process.wait(timeout=120)
    assert read_checkpoint(broken / "last.pt")["resume"]["epoch"] == 1, "kill came too late"
    if stop_signal != signal.SIGKILL:
        assert code == 130 and (broken / "interrupted.pt").is_file()
        assert "--resume continues after epoch 1" in process.stderr()
    assert livseg_here("train", "--resume", "--out", broken) == 0
    expected, got = metrics_rows(whole), metrics_rows(broken)
    assert [r["epoch"] for r in got] == ["1", "2"]
    for want, have in zip(expected, got, strict=True):
        assert float(have["lr"]) == pytest.approx(float(want["lr"]), rel=1e-9)
        assert float(have["val_loss"]) == pytest.approx(float(want["val_loss"]), rel=1e-4)
    a = read_checkpoint(whole / "last.pt")["model_state"]
    b = read_checkpoint(broken / "last.pt")["model_state"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


@pytest.mark.slow
def test_resume_from_a_truncated_last_checkpoint_is_a_clear_error(tmp_path, uninterrupted_run,
                                                                  capsys):
    """A disk that filled while last.pt was replaced cannot happen (it is written aside and
    renamed), but a copied or damaged run folder can hold half a last.pt: exit 2, one line."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(uninterrupted_run, run)
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 2])
    assert livseg_here("train", "--resume", "--out", run) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "last.pt" in error[0] and "checkpoint" in error[0]


def test_both_stop_signals_share_one_handler(tmp_path, monkeypatch):
    """Ctrl-C (SIGINT) and a scheduler's SIGTERM take the same path: the handler the kill
    test above exercises with SIGTERM. A caller's own handlers come back afterwards."""
    from livseg.cli import main

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert main(["train", "--out", str(tmp_path / "run")]) == 2  # no --data: refused
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    installed = {}
    monkeypatch.setattr("livseg.cli.training.signal.signal",
                        lambda number, handler: installed.setdefault(number, handler))
    assert main(["train", "--out", str(tmp_path / "run")]) == 2  # no --data: refused
    assert installed[signal.SIGINT] is installed[signal.SIGTERM]
    with pytest.raises(KeyboardInterrupt):
        installed[signal.SIGINT](signal.SIGINT, None)
