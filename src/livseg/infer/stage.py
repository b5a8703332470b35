"""One trained stage as a slice-wise predictor: HU window, batching, 2.5D stacks, flip TTA.

Spatial preparation (resizing to the network's size or pixel spacing, cropping) belongs to
the cascade, which also undoes it; a :class:`Stage` only maps prepared HU slices to the
probability of its foreground class on the same grid. The network behind it runs on torch
or onnxruntime (:mod:`livseg.infer.runners`); everything here is NumPy.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livseg.errors import LivsegInputError
from livseg.infer.description import check_description
from livseg.infer.runners import OnnxRunner, TorchRunner, choose_backend
from livseg.io.text import file_sha256
from livseg.preprocess import centre_pad, crop, hu_window
from livseg.preprocess.context import ContextIndex, context_index, context_reach, volume_context

#: Flip test-time augmentation: none and left-right (axes of an (N, C, H, W) batch; negative,
#: so that they are the same spatial axes of the (N, H, W) probabilities). Adding up-down
#: made the tumour stage no better on the validation volumes (tumour Dice 0.557 against
#: 0.560, lesion F1 0.593 against 0.621, the same false lesions) for a third run of it.
TTA_FLIPS = ((), (-1,))
#: Where the passes of :meth:`Stage.probability` see the slices (``canvas``): "none", as
#: given; "all", centred on the network's training size, padded with the window's low end
#: (as every training box was); "flipped", the first pass as given and each flipped one on
#: the canvas; "both", every flip both ways.
CANVAS_MODES = ("none", "all", "flipped", "both")


@dataclass
class Stage:
    runner: TorchRunner | OnnxRunner
    description: dict  # the checkpoint's self-description (train/checkpoint.py)
    file: str
    sha256: str

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", backend: str = "torch",
             threads: int | None = None, stage: str | None = None) -> Stage:
        """A checkpoint (.pt) or an exported model (.onnx with its .json) on ``backend``
        ("auto" picks by the file's kind); a checkpoint on "onnx" is exported in memory.
        Its description is checked first (infer/description.py), to be of ``stage`` when
        that is given."""
        path = Path(path)
        if path.is_dir():
            raise LivsegInputError("is a folder, not a weights file (.pt or .onnx)", path)
        if not path.is_file():
            raise LivsegInputError("does not exist", path)
        backend = choose_backend(backend, device, path)
        if path.suffix == ".onnx":
            if backend != "onnx":
                raise LivsegInputError("is an ONNX model: it runs with --backend onnx", path)
            sidecar = _read_sidecar(path)
            multiple = sidecar["input"]["size_multiple"]
            check_description(sidecar["checkpoint"], path.with_suffix(".json"), stage,
                              size_multiple=multiple)
            runner = OnnxRunner(path, int(multiple), threads)
            return cls(runner, sidecar["checkpoint"], path.name, file_sha256(path))
        from livseg.models.checkpoint import load_model

        model, description = load_model(path, stage)
        if backend == "onnx":
            from livseg.models.onnx_graph import onnx_bytes

            runner = OnnxRunner(*onnx_bytes(model, description), threads=threads)
        else:
            runner = TorchRunner(model, device)
        return cls(runner, description, path.name, file_sha256(path))

    @property
    def model(self):
        """The torch module (explanations and export need it)."""
        if not isinstance(self.runner, TorchRunner):
            raise LivsegInputError(f"the {self.name} stage runs on onnxruntime; this needs its "
                                   "torch checkpoint")
        return self.runner.model

    @property
    def backend(self) -> str:
        return self.runner.name

    @property
    def name(self) -> str:
        return self.description["stage"]

    @property
    def window(self) -> tuple[float, float]:
        return tuple(self.description["input"]["window_hu"])  # type: ignore[return-value]

    @property
    def liver_anchor_hu(self) -> float | None:
        """Where the stage expects the liver's median HU (None: HU taken as they are)."""
        return self.description["input"].get("liver_anchor_hu")

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.description["input"]["size"])  # type: ignore[return-value]

    @property
    def pixel_mm(self) -> float | None:
        return self.description["input"].get("pixel_mm")

    @property
    def in_channels(self) -> int:
        return int(self.description["input"]["in_channels"])

    @property
    def context_mm(self) -> float | None:
        """2.5D: the distance in mm between the input slices (None: adjacent slices)."""
        return self.description["input"].get("context_mm")

    def context(self, n_slices: int, slice_mm: float | None) -> ContextIndex:
        """The 2.5D inputs of ``n_slices`` consecutive slices ``slice_mm`` apart. A stage
        with inputs at fixed mm given no spacing sees each slice alone (as it saw isolated
        slices in training)."""
        if self.context_mm is not None and not slice_mm:
            return context_index(np.full(n_slices, np.nan), self.in_channels, 1.0)
        return volume_context(n_slices, self.in_channels, slice_mm, self.context_mm)

    def context_reach(self, slice_mm: float | None) -> int:
        """Slices beyond a block that its 2.5D inputs reach, on each side."""
        if self.context_mm is not None and not slice_mm:
            return 0
        return context_reach(self.in_channels, slice_mm, self.context_mm)

    def info(self) -> dict:
        """What the report says about this model."""
        return {"stage": self.name, "file": self.file, "sha256": self.sha256,
                "backend": self.backend,
                "architecture": self.description["architecture"],
                "livseg_version": self.description["livseg_version"],
                "validation_dice": _finite_or_none(self.description["validation"].get("dice"))}

    @property
    def tta_flips(self) -> tuple[tuple[int, ...], ...]:
        """The flips of test-time augmentation: those this network was trained with. A network
        trained without flips relies on the canonical orientation, so it gets none."""
        recipe = self.description.get("training", {}).get("recipe", {})
        if not recipe.get("augment", True) or recipe.get("flip_probability", 0.5) <= 0:
            return ((),)
        return TTA_FLIPS

    def release(self) -> None:
        """Memory the network kept between batches goes back (call when a volume is done)."""
        self.runner.release()

    def probability(self, slices_hu: np.ndarray, *, slice_mm: float | None = None,
                    batch_size: int = 16, tta: bool = False,
                    progress: Callable[[int], None] | None = None,
                    rows: slice | None = None, tta_above: float | None = None,
                    hu_offset: float = 0.0, canvas: str = "none") -> np.ndarray:
        """(Z, H, W) consecutive HU slices, ``slice_mm`` apart -> (Z, H, W) float32
        probability of the stage's foreground; with ``rows``, of those slices only (the
        others are there as their 2.5D neighbours, and the network does not run on them).
        With ``tta`` and ``tta_above``, the flipped passes run only on the slices whose
        first pass exceeds ``tta_above`` somewhere; the others keep their first pass.
        ``hu_offset`` is added to the HU before the window (by moving the window instead).
        ``canvas`` (:data:`CANVAS_MODES`) says which passes see the slices centred on the
        network's training size; each pass's answer is cropped back to the slices."""
        images = hu_window(slices_hu, *(w - hu_offset for w in self.window))
        context = self.context(len(images), slice_mm)
        wanted = np.arange(len(images))[slice(None) if rows is None else rows]
        out = np.empty((len(wanted), *slices_hu.shape[1:]), np.float32)
        views = self._views(tta, canvas)
        for first in range(0, len(wanted), batch_size):
            batch = wanted[first:first + batch_size]
            stack = context.stack(images, batch)
            out[first:first + len(batch)] = self._forward(
                np.ascontiguousarray(stack, np.float32), views, tta_above)
            if progress:
                progress(len(batch))
        return out

    def _views(self, tta: bool, canvas: str) -> list[tuple[tuple[int, ...], bool]]:
        """The passes: (flip axes, on the canvas?), the first one first."""
        if canvas not in CANVAS_MODES:
            raise ValueError(f"canvas must be one of {CANVAS_MODES}, not {canvas!r}")
        flips = self.tta_flips if tta else ((),)
        if canvas == "both":
            return [(axes, placed) for axes in flips for placed in (False, True)]
        return [(axes, canvas == "all" or (canvas == "flipped" and bool(axes)))
                for axes in flips]

    def _forward(self, batch: np.ndarray, views: list[tuple[tuple[int, ...], bool]],
                 tta_above: float | None = None) -> np.ndarray:
        first = self._foreground(batch, *views[0])
        if len(views) == 1:
            return first
        unsure = (np.flatnonzero(first.reshape(len(first), -1).max(axis=1) > tta_above)
                  if tta_above is not None else np.arange(len(first)))
        if not len(unsure):
            return first
        total = first[unsure]
        for axes, placed in views[1:]:
            total += self._foreground(batch[unsure], axes, placed)
        first[unsure] = total / len(views)
        return first

    def _foreground(self, batch: np.ndarray, axes: tuple[int, ...],
                    on_canvas: bool = False) -> np.ndarray:
        """The network's foreground probability of ``batch`` seen flipped along ``axes``
        (and flipped back); ``on_canvas``: centred on the training size (windowed 0 around
        it) and cropped back."""
        inside = None
        if on_canvas:
            batch, inside = centre_pad(batch, self.size, 0.0)
        logits = self.runner.logits(np.flip(batch, axes) if axes else batch)
        foreground = sigmoid(logits[:, 1] - logits[:, 0])  # softmax of two classes
        foreground = np.flip(foreground, axes) if axes else foreground
        return foreground if inside is None else crop(foreground, inside)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, overflow-free (the same as scipy.special.expit, whose import
    alone costs a tenth of a second of every ``livseg predict``)."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _read_sidecar(path: Path) -> dict:
    sidecar = path.with_suffix(".json")
    try:
        description = json.loads(sidecar.read_text())
        description["checkpoint"]["stage"], description["input"]["size_multiple"]
    except (OSError, ValueError, KeyError, TypeError):
        raise LivsegInputError("is not the description `livseg export` writes beside an ONNX "
                               "model", sidecar) from None
    return description


def _finite_or_none(value):
    """A figure for JSON: None for a missing or non-finite one (a checkpoint trained on every
    volume has no validation score)."""
    return value if isinstance(value, int | float) and math.isfinite(value) else None
