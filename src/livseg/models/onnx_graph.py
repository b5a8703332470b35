"""A network as an ONNX graph: what ``livseg export`` writes to files and what a checkpoint
run with ``--backend onnx`` becomes in memory (so inference never imports the exporter).
"""
from __future__ import annotations

import io

import torch

from livseg.errors import LivsegInputError
from livseg.models.blocks import PaddedCore

OPSET = 17


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        raise LivsegInputError("ONNX export needs onnx and onnxruntime "
                               "(pip install onnx onnxruntime)") from None


def export_onnx(model: torch.nn.Module, channels: int, size: tuple[int, int], target) -> int:
    """The network without its padding (the runtime pads) to ``target`` (a path or a
    binary stream); returns the size multiple its H and W need."""
    core = PaddedCore(model.to("cpu", memory_format=torch.contiguous_format).eval()).eval()
    with torch.no_grad():
        torch.onnx.export(core, (torch.zeros(1, channels, *size),), target,
                          input_names=["image"], output_names=["logits"], dynamo=False,
                          opset_version=OPSET,
                          dynamic_axes={"image": {0: "n", 2: "h", 3: "w"},
                                        "logits": {0: "n", 2: "h", 3: "w"}})
    return core.size_multiple


def onnx_bytes(model: torch.nn.Module, description: dict) -> tuple[bytes, int]:
    """A checkpoint's network as ONNX bytes (for ``--backend onnx`` with a .pt file) and
    its size multiple."""
    require_onnx()
    buffer = io.BytesIO()
    multiple = export_onnx(model, int(description["input"]["in_channels"]),
                           tuple(description["input"]["size"]), buffer)
    return buffer.getvalue(), multiple
