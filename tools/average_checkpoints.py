"""Average the weights of several checkpoints of one training run (a "model soup" of its
epochs; Wortsman et al. 2022, and stochastic weight averaging, Izmailov et al. 2018).

Every floating-point tensor of ``model_state`` (weights and BatchNorm running statistics)
is the mean over the checkpoints; integer counters are taken from the last. The result
keeps the last checkpoint's description, adds ``training.averaged_from`` and drops the
resume state, so it loads like any shipped weight. The checkpoints must share their
architecture and input. Fixed files averaged once, so a plain mean is all that is needed
(``torch.optim.swa_utils.AveragedModel`` keeps a running mean during training).

Usage: python tools/average_checkpoints.py OUT.pt CKPT CKPT [CKPT ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from livseg.errors import LivsegInputError
from livseg.models.checkpoint import read_checkpoint, save_checkpoint
from livseg.models.registry import build_model


def average_checkpoints(paths: list[Path]) -> tuple[dict, dict]:
    """(description of the last, averaged model_state) of ``paths``."""
    payloads = [read_checkpoint(path) for path in paths]
    last = payloads[-1]
    for path, payload in zip(paths, payloads, strict=True):
        if (payload["architecture"], payload["input"]) != (last["architecture"], last["input"]):
            raise LivsegInputError("has another architecture or input than the last checkpoint",
                                   path)
    state = {}
    for key, tensor in last["model_state"].items():
        if tensor.is_floating_point():
            state[key] = torch.stack([p["model_state"][key].float() for p in payloads]).mean(0)
            state[key] = state[key].to(tensor.dtype)
        else:
            state[key] = tensor.clone()
    description = {k: v for k, v in last.items() if k not in ("model_state", "resume")}
    description["training"] = {**description["training"],
                               "averaged_from": [str(path) for path in paths]}
    return description, state


def main(out: str, paths: list[str]) -> None:
    description, state = average_checkpoints([Path(p) for p in paths])
    args = dict(description["architecture"])
    model = build_model(args.pop("name"), **args)
    model.load_state_dict(state)
    save_checkpoint(Path(out), description, model)
    print(f"{out}: mean of {len(paths)} checkpoints")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
