"""Checking a model's self-description (a checkpoint's, or the JSON beside an exported
ONNX model) before anything is built from it or run with it.

Weights are input like any file: a description whose numbers are impossible (a NaN HU
window, a size multiple of 0), that would build a network far beyond livseg's own (a width
of 1000 took 27 s and 6.2 GB before failing), or that belongs to the other stage (tumour
weights given as the liver's report a 49 ml liver) is refused here with one line.
"""
from __future__ import annotations

import math
from pathlib import Path

from livseg.errors import LivsegInputError

STAGES = ("liver", "tumour")
ARCHITECTURES = ("mobileunet", "unet", "resunet")
#: Bounds of the networks' arguments: several times those of every network livseg trains.
ARGUMENT_BOUNDS = {"width": (0.05, 8.0), "depth": (1, 6), "blocks": (1, 8),
                   "expansion": (1.0, 12.0), "base": (1, 128), "in_channels": (1, 15),
                   "num_classes": (2, 2)}
#: The networks' switches: true or false, nothing else.
SWITCHES = ("full_resolution_head",)
MAX_SIZE = 2048


def _number(value, what: str, path: Path, low: float, high: float, integer: bool = False):
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not low <= value <= high \
            or (integer and value != int(value)):
        kind = "an integer" if integer else "a number"
        raise LivsegInputError(f"describes a model whose {what} is {value!r}; it must be "
                               f"{kind} from {low:g} to {high:g}", path)
    return value


def check_description(description: dict, path: Path, stage: str | None = None,
                      size_multiple=None) -> dict:
    """``description`` when a livseg stage can be built and run from it (of ``stage``,
    when given); a LivsegInputError naming the field otherwise."""
    try:
        found, architecture, model_input = (description["stage"], description["architecture"],
                                            description["input"])
        window, size = list(model_input["window_hu"]), list(model_input["size"])
        name = architecture["name"]
    except (KeyError, TypeError):
        raise LivsegInputError("is not a livseg model: its description lacks the stage, "
                               "architecture or input", path) from None
    if found not in STAGES:
        raise LivsegInputError(f"describes a model of stage {found!r}; livseg's stages are "
                               f"{', '.join(STAGES)}", path)
    if stage is not None and found != stage:
        raise LivsegInputError(f"holds the {found} stage's weights, given as the {stage} "
                               "stage's", path)
    if name not in ARCHITECTURES:
        raise LivsegInputError(f"describes an unknown architecture {name!r}; livseg builds "
                               f"{', '.join(ARCHITECTURES)}", path)
    for key, value in architecture.items():
        if key in SWITCHES:
            if not isinstance(value, bool):
                raise LivsegInputError(f"describes a model whose architecture argument "
                                       f"{key!r} is {value!r}; it must be true or false", path)
        elif key != "name":
            low, high = ARGUMENT_BOUNDS.get(key, (0, 256))
            _number(value, f"architecture argument {key!r}", path, low, high)
    if len(window) != 2:
        raise LivsegInputError(f"describes a model whose HU window is {window!r}", path)
    low = _number(window[0], "HU window", path, -3000, 10000)
    if _number(window[1], "HU window", path, -3000, 10000) <= low:
        raise LivsegInputError(f"describes a model whose HU window {window} is empty", path)
    if len(size) != 2:
        raise LivsegInputError(f"describes a model whose input size is {size!r}", path)
    for value in size:
        _number(value, "input size", path, 16, MAX_SIZE, integer=True)
    _number(model_input.get("in_channels"), "number of input slices", path, 1, 15,
            integer=True)
    for key, (low, high) in {"pixel_mm": (0.05, 20.0), "context_mm": (0.05, 50.0)}.items():
        if model_input.get(key) is not None:
            _number(model_input[key], key, path, low, high)
    if size_multiple is not None:
        _number(size_multiple, "size multiple", path, 1, 256, integer=True)
    return description
