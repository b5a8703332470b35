"""``livseg train`` end to end on phantoms: outputs, --init-from, DDP, split files (stop and
resume: test_training_resume.py)."""
from __future__ import annotations

import json
import logging

import pytest
import torch

from livseg.models.checkpoint import load_model, read_checkpoint

from .runs import SHIPPED_LIVER, livseg_here, metrics_rows, tiny_config


@pytest.mark.slow
def test_two_epochs_leave_every_artefact(tmp_path, capsys):
    run = tmp_path / "run"
    assert livseg_here("train", "--data", "phantom:3", "--epochs", "2", "--out", run,
                       "--config", tiny_config(tmp_path)) == 0
    for name in ("metrics.csv", "curves.png", "best.pt", "last.pt",
                 "snapshots/epoch_001.png", "snapshots/epoch_002.png"):
        assert (run / name).is_file(), name
    rows = metrics_rows(run)
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
    capsys.readouterr()
    assert livseg_here("train", "--data", "phantom:3", "--out", run) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.slow
def test_init_from_copies_matching_weights(tmp_path, caplog):
    """A tumour stage started from the shipped liver stage (same network) holds exactly its
    weights after a step at learning rate 0."""
    run = tmp_path / "tumour"
    config = tiny_config(tmp_path, lr=0.0, max_steps_per_epoch=1, arch_args={"width": 1.5},
                     montage_slices=0)
    caplog.set_level(logging.INFO, logger="livseg")
    assert livseg_here("train", "--stage", "tumour", "--data", "phantom:2", "--epochs", "1",
                       "--out", run, "--init-from", SHIPPED_LIVER, "--config", config) == 0
    assert "initialised 278 of 278 tensors" in caplog.text
    assert load_model(run / "last.pt")[1]["labels"]["1"] == "tumour"
    shipped = read_checkpoint(SHIPPED_LIVER)["model_state"]
    trained = read_checkpoint(run / "last.pt")["model_state"]
    weights = [k for k in shipped if not k.endswith(("running_mean", "running_var",
                                                     "num_batches_tracked"))]
    assert len(weights) > 100 and set(trained) == set(shipped)
    assert all(torch.equal(trained[k], shipped[k]) for k in weights)


@pytest.mark.slow
def test_ddp_with_two_gloo_processes(tmp_path, monkeypatch):
    """torchrun's own entry point (``torch.distributed.run.main``, all its console script
    runs), called in this process instead of a fresh interpreter that imports torch again:
    its agent starts the two ranks as ``python -m livseg train`` processes, as torchrun
    does."""
    import signal

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run, logs = tmp_path / "ddp", tmp_path / "logs"
    def too_long(number, frame):  # the agent then stops both ranks
        raise TimeoutError("torchrun ran past 600 s")

    handlers = {number: signal.getsignal(number) for number in (
        signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,  # the agent sets them
        signal.SIGALRM)}
    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(600)
    try:
        torchrun(["--standalone", "--nproc-per-node", "2", "--log-dir", str(logs),
                  "--redirects", "3", "-m", "livseg", "train", "--data", "phantom:4",
                  "--epochs", "2", "--device", "cpu", "--out", str(run), "--config",
                  str(tiny_config(tmp_path, max_steps_per_epoch=3))])
    except ChildFailedError as failure:
        errors = "\n".join(p.read_text()[-1500:] for p in sorted(logs.rglob("stderr.log")))
        raise AssertionError(f"{failure}\n{errors}") from None
    finally:
        signal.alarm(0)
        for number, handler in handlers.items():
            signal.signal(number, handler)
    description = read_checkpoint(run / "last.pt")
    assert description["training"]["world_size"] == 2
    assert len(metrics_rows(run)) == 2
    # each step took batch_size slices on each of the two ranks
    assert float(metrics_rows(run)[0]["train_slices_per_second"]) > 0
    # the two ranks held the same weights after every epoch (training stops otherwise)
    assert [float(row["ranks_weight_spread"]) for row in metrics_rows(run)] == [0.0, 0.0]


@pytest.mark.slow
def test_a_split_file_decides_the_validation_volumes(tmp_path):
    """--split and --fold reach the data (tests/test_splits.py covers the split's own
    validation volumes and every fold at the function level)."""
    fold, held_out = 0, ["phantom0"]
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["phantom0", "phantom1"], "validation": ["phantom2"],
                                 "folds": [["phantom0"], ["phantom1", "phantom2"]]}))
    run = tmp_path / "run"
    assert livseg_here("train", "--data", "phantom:3", "--epochs", "1", "--max-steps", "2",
                       "--out", run, "--config", tiny_config(tmp_path, montage_slices=0),
                       "--split", split, "--fold", fold) == 0
    training = read_checkpoint(run / "last.pt")["training"]
    assert training["validation_volumes"] == held_out
    assert set(training["train_volumes"]) == {"phantom0", "phantom1", "phantom2"} - set(held_out)
    assert training["recipe"]["split"] == str(split) and training["recipe"]["fold"] == fold


@pytest.mark.slow
def test_a_split_with_no_validation_volumes_trains_on_every_volume(tmp_path, capsys):
    """The final model of a cross-validated recipe: every volume trains, nothing is scored
    as held out (NaN), last.pt is the model and no best.pt claims to be chosen."""
    run = tmp_path / "run"
    assert livseg_here("train", "--data", "phantom:2", "--epochs", "2", "--max-steps", "1",
                       "--out", run, "--config", tiny_config(tmp_path, montage_slices=0,
                                                             validation_fraction=0)) == 0
    training = read_checkpoint(run / "last.pt")["training"]
    assert training["validation_volumes"] == [] and training["epochs_completed"] == 2
    assert read_checkpoint(run / "last.pt")["validation"] == {"epoch": 2}  # no NaN score
    assert set(training["train_volumes"]) == {"phantom0", "phantom1"}
    assert not (run / "best.pt").exists()
    assert all(row["val_dice"] == "nan" for row in metrics_rows(run))
    assert "no validation volumes" in capsys.readouterr().out


@pytest.mark.parametrize("grown_k", [3, 5])
def test_a_2_5d_network_started_from_a_single_slice_one_answers_as_it_did(grown_k):
    """--init-from a 1-slice checkpoint: the 3- or 5-slice network gives the old network's
    logits whatever its neighbouring slices hold, so fine-tuning starts where the old one
    stood."""
    from livseg.models import build_model
    from livseg.train.checkpoint import load_matching_weights

    shipped = SHIPPED_LIVER
    old, description = load_model(shipped)
    arguments = {**description["architecture"], "in_channels": grown_k}
    grown = build_model(arguments.pop("name"), **arguments)
    loaded, total = load_matching_weights(grown, shipped)
    assert loaded == total
    middle = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    neighbours = torch.rand(2, grown_k, 64, 64, generator=torch.Generator().manual_seed(1))
    neighbours[:, grown_k // 2:grown_k // 2 + 1] = middle
    with torch.no_grad():
        torch.testing.assert_close(grown.eval()(neighbours), old.eval()(middle),
                                   atol=1e-4, rtol=1e-4)


def test_a_5_slice_network_started_from_the_3_slice_tumour_stage_answers_as_it_did():
    """--init-from the shipped 3-slice tumour stage: the 5-slice network sees the old
    network's three slices in its middle and gives its logits whatever the two outer
    slices hold."""
    from livseg.models import build_model
    from livseg.train.checkpoint import load_matching_weights

    shipped = SHIPPED_LIVER.with_name("tumour_mobileunet.pt")
    old, description = load_model(shipped)
    assert description["input"]["in_channels"] == 3
    arguments = {**description["architecture"], "in_channels": 5}
    grown = build_model(arguments.pop("name"), **arguments)
    loaded, total = load_matching_weights(grown, shipped)
    assert loaded == total
    three = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    five = torch.rand(2, 5, 64, 64, generator=torch.Generator().manual_seed(1))
    five[:, 1:4] = three
    with torch.no_grad():
        torch.testing.assert_close(grown.eval()(five), old.eval()(three), atol=1e-4, rtol=1e-4)



