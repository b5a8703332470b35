"""Backends that run one network on a batch of prepared slices: torch or onnxruntime.

Both map a float32 (N, C, H, W) NumPy batch to float32 (N, 2, H, W) logits, so a
:class:`~livseg.infer.stage.Stage` never needs to know which one it has. onnxruntime needs
no torch at all: with it, ``livseg predict`` never imports torch.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from livseg.errors import LivsegInputError

if TYPE_CHECKING:  # NumPy is imported where it is used: the command line reads BACKENDS
    import numpy as np

BACKENDS = ("auto", "onnx", "torch")
#: Threads of each onnxruntime session when none are asked for (e.g. one per job when many
#: jobs share a machine); unset: onnxruntime's own choice, every core.
THREADS_VARIABLE = "LIVSEG_THREADS"


def default_threads() -> int | None:
    """``$LIVSEG_THREADS`` as a positive integer, or None where it is unset."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise LivsegInputError(f"{THREADS_VARIABLE} must be a positive integer, got {value!r}")
    return int(value)


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class TorchRunner:
    """A torch module on a device, channels-last (measured faster for these nets on CPU)."""

    name = "torch"

    def __init__(self, model, device="cpu"):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.model = model.to(device=self.device, memory_format=torch.channels_last).eval()

    def release(self) -> None:
        """Nothing to give back: torch's CPU allocator returns freed memory itself."""

    def logits(self, batch: np.ndarray) -> np.ndarray:
        import numpy as np

        torch = self.torch
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(batch, np.float32)).to(self.device)
            return self.model(x.contiguous(memory_format=torch.channels_last)).float().cpu() \
                .numpy()


class OnnxRunner:
    """An onnxruntime session of an exported stage (``livseg export``): inputs are padded
    by edge replication to multiples of ``size_multiple`` and the logits cropped back."""

    name = "onnx"

    def __init__(self, model: str | Path | bytes, size_multiple: int, threads: int | None = None):
        try:
            import onnxruntime
        except ImportError:
            raise LivsegInputError("--backend onnx needs onnxruntime (pip install onnxruntime)"
                                   ) from None
        options = onnxruntime.SessionOptions()
        threads = threads or default_threads()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = onnxruntime.InferenceSession(source, options,
                                                        providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime's own kinds: InvalidProtobuf, Fail, ...
            reason = str(error).strip().splitlines()[-1].split(" : ")[-1][:160] or "empty"
            raise LivsegInputError(f"is not a readable ONNX model ({reason})",
                                   None if isinstance(model, bytes) else model) from None
        self.input_name = self.session.get_inputs()[0].name
        self.size_multiple = size_multiple

    def release(self) -> None:
        """Give the memory arena's unused blocks back (a stage done with a volume): the
        arena keeps its peak between runs (about 200 MB for the liver stage at batch 8),
        memory that a huge volume's clean-up needs. Without the arena each run would be
        a third slower (measured), so it is shrunk once per stage, by one tiny run."""
        import numpy as np
        import onnxruntime

        options = onnxruntime.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        channels = self.session.get_inputs()[0].shape[1]
        size = max(self.size_multiple, 1)
        tiny = np.zeros((1, channels if isinstance(channels, int) else 1, size, size),
                        np.float32)
        self.session.run(None, {self.input_name: tiny}, options)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        height, width = batch.shape[-2:]
        x = pad_edge(batch, self.size_multiple)
        return self.session.run(None, {self.input_name: x})[0][..., :height, :width]


def pad_edge(batch: np.ndarray, multiple: int) -> np.ndarray:
    """float32 (..., H, W) padded at the bottom and right, repeating the last row and column,
    to multiples of ``multiple`` (the padding rule of an exported model's JSON)."""
    import numpy as np

    height, width = batch.shape[-2:]
    pad = [(0, 0)] * (batch.ndim - 2) + [(0, -height % multiple), (0, -width % multiple)]
    batch = np.asarray(batch, np.float32)
    return np.pad(batch, pad, mode="edge") if pad[-1][1] or pad[-2][1] else \
        np.ascontiguousarray(batch)


def choose_backend(requested: str, device: str, path: str | Path | None) -> str:
    """``auto``: the file's own kind when a path is given (.onnx or a checkpoint), else
    onnxruntime on CPU when it is installed, torch otherwise."""
    if requested not in BACKENDS:
        raise LivsegInputError(f"unknown backend {requested!r}; choose from {BACKENDS}")
    if requested == "onnx" and str(device) != "cpu":
        raise LivsegInputError("--backend onnx runs on the CPU; use --backend torch with "
                               f"--device {device}")
    if requested != "auto":
        return requested
    if path is not None:
        return "onnx" if Path(path).suffix == ".onnx" else "torch"
    return "onnx" if str(device) == "cpu" and onnxruntime_available() else "torch"
