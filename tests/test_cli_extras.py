"""The plain install (no `[train]` extra): the commands that need torch say so."""
from __future__ import annotations

import livseg.cli.training as training
from livseg.cli import main


def test_a_command_that_needs_the_train_extra_says_so(monkeypatch, capsys):
    """Installed without `[train]`, torch is missing: one line naming the extra, exit 2."""
    def without_torch(args):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(training, "_cmd_train", without_torch)
    code = main(["train", "--data", "phantom:2", "--out", "run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "livseg[train]" in err[0] and "torch" in err[0]


def test_a_missing_module_that_is_no_extra_stays_a_bug(monkeypatch):
    def broken(args):
        raise ModuleNotFoundError("No module named 'livseg.nothing'", name="livseg.nothing")

    monkeypatch.setattr(training, "_cmd_train", broken)
    try:
        main(["train", "--data", "phantom:2", "--out", "run"])
    except ModuleNotFoundError as error:
        assert error.name == "livseg.nothing"
    else:
        raise AssertionError("a missing livseg module must not look like bad input")
