"""Checkpoints that describe themselves, written atomically: the format, beside the networks.

Inference loads them (``load_model``) and training writes them (``save_checkpoint``); the
training-only helpers (transfer of matching weights) are in ``livseg.train.checkpoint``.

A checkpoint holds the network's architecture and arguments, the input it expects (HU
window, size, number of slices), its label map, the data and recipe it was trained with,
its validation figures and the livseg version; loading it needs nothing else. ``last.pt``
also holds what ``--resume`` needs (optimiser, schedule, random states, history).
"""
from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import torch
from torch import nn

from livseg._version import __version__
from livseg.errors import LivsegInputError, printable
from livseg.io.text import atomic_output
from livseg.models.registry import build_model

FORMAT = "livseg-checkpoint"
FORMAT_VERSION = 1
STAGE_LABELS = {"liver": {0: "background", 1: "liver"},
                "tumour": {0: "background", 1: "tumour"}}


def describe(model: nn.Module, *, stage: str, window, size, in_channels: int,
             training: dict, validation: dict, pixel_mm: float | None = None,
             context_mm: float | None = None, liver_anchor_hu: float | None = None) -> dict:
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "livseg_version": __version__,
        "stage": stage,
        "architecture": dict(model.build_args),
        "input": {"window_hu": list(window), "size": list(size), "in_channels": in_channels,
                  "orientation": "canonical axial (LPS), array (z, y, x)",
                  "scaling": "clip HU to window_hu, then (hu - low) / (high - low)",
                  "pixel_mm": pixel_mm, "context_mm": context_mm,
                  **({"liver_anchor_hu": liver_anchor_hu,
                      "anchoring": "hu + (liver_anchor_hu - median HU of the liver) before "
                                   "the window"} if liver_anchor_hu is not None else {})},
        "labels": {str(k): v for k, v in STAGE_LABELS[stage].items()},
        "training": training,
        "validation": validation,
    }


def save_checkpoint(path: Path, description: dict, model: nn.Module,
                    resume_state: dict | None = None) -> Path:
    """Write ``description`` + weights (+ resume state) to ``path`` atomically."""
    payload = {**description, "model_state": {k: v.detach().cpu()
                                              for k, v in model.state_dict().items()}}
    if resume_state is not None:
        payload["resume"] = resume_state
    with atomic_output(path) as temporary:
        torch.save(payload, temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())  # on disk before the rename makes it the checkpoint
    return Path(path)


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents, or a clear error when it is not a livseg checkpoint.

    Loaded with ``weights_only=True``: torch's restricted unpickler builds only tensors,
    plain containers, numbers and strings (all a livseg checkpoint holds, resume state
    included), so a pickle that would run code is refused before any of it runs.
    """
    path = Path(path)
    if not path.is_file():
        raise LivsegInputError("does not exist", path)
    try:
        with warnings.catch_warnings():  # torch warns of pickle protocols it may not know
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise LivsegInputError("is not a safe livseg checkpoint: it holds objects beyond "
                               f"tensors, numbers and strings ({_unpickler_reason(error)}); "
                               "nothing of it was run", path) from None
    except Exception as error:  # torch raises many kinds for a damaged file
        raise LivsegInputError(f"is not a readable checkpoint ({type(error).__name__})",
                               path) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise LivsegInputError("is not a livseg checkpoint", path)
    return payload


def _unpickler_reason(error: Exception) -> str:
    """The line of torch's weights-only refusal that says what it met."""
    told = str(error).partition("WeightsUnpickler error:")[2]
    lines = [line.strip() for line in told.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Check the documentation")]
    return printable(lines[0])[:160] if lines else "refused by the unpickler"


def load_model(path: Path, stage: str | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the network of a checkpoint with its weights, in eval mode, and its
    description (checked first: of ``stage``, when given)."""
    from livseg.infer.description import check_description

    payload = check_description(read_checkpoint(path), path, stage)
    args = dict(payload["architecture"])
    try:
        model = build_model(args.pop("name"), **args)
        model.load_state_dict(payload["model_state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        reason = str(error).strip().splitlines()[0][:160]
        raise LivsegInputError(f"holds weights that do not fit its architecture ({reason})",
                               path) from None
    model.eval()
    description = {k: v for k, v in payload.items() if k not in ("model_state", "resume")}
    return model, description
