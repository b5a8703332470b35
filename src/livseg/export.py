"""ONNX export of the cascade's stages, each checked against its torch model.

Each stage becomes ``<stage>.onnx`` (input ``image`` (N, C, H, W) float32 with H and W
multiples of ``size_multiple``, output ``logits`` (N, 2, H, W); batch, height and width are
dynamic) and ``<stage>.json``: the preprocessing it expects (the checkpoint's input
description plus the padding rule), the opset, the source checkpoint's SHA-256, and the
check: the largest absolute difference of logits and the agreement of the argmax between
onnxruntime and torch on random and on CT-like input.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from livseg.errors import LivsegInputError
from livseg.infer import Stage
from livseg.io.text import staged_folder, write_json
from livseg.models.blocks import PaddedCore, pad_to_multiple

OPSET = 17


def export_stage(stage: Stage, folder: Path, seed: int = 0) -> dict:
    """Write ``<stage>.onnx`` and ``<stage>.json`` for one stage to ``folder``; returns the
    JSON's content."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import onnxruntime
    except ImportError:
        raise LivsegInputError("ONNX export needs onnx and onnxruntime "
                               "(pip install 'livseg[dev]' or onnx onnxruntime)") from None
    model = stage.model.to("cpu", memory_format=torch.contiguous_format).eval()
    core = PaddedCore(model).eval()
    channels = stage.in_channels
    height, width = stage.size
    path = folder / f"{stage.name}.onnx"
    with torch.no_grad():
        torch.onnx.export(core, (torch.zeros(1, channels, height, width),), str(path),
                          input_names=["image"], output_names=["logits"], dynamo=False,
                          opset_version=OPSET,
                          dynamic_axes={"image": {0: "n", 2: "h", 3: "w"},
                                        "logits": {0: "n", 2: "h", 3: "w"}})
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    check = _compare(model, session, core.size_multiple, channels, seed)
    description = {
        "format": "livseg-onnx", "stage": stage.name, "file": path.name, "opset": OPSET,
        "source_checkpoint": {"file": stage.file, "sha256": stage.sha256},
        "input": {**stage.description["input"], "size_multiple": core.size_multiple,
                  "padding": "replicate the last row and column up to multiples of "
                             "size_multiple (bottom, right); crop the logits back"},
        "output": {"name": "logits", "labels": stage.description["labels"]},
        "check": check,
    }
    write_json(folder / f"{stage.name}.json", description)
    return description


def _compare(model, session, multiple: int, channels: int, seed: int) -> dict:
    """onnxruntime against torch on random input and on a smooth CT-like image."""
    generator = torch.Generator().manual_seed(seed)
    random = torch.rand(2, channels, 75, 93, generator=generator)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 120), torch.linspace(-1, 1, 136),
                            indexing="ij")
    organ = ((yy / 0.7) ** 2 + (xx / 0.8) ** 2 < 1).float() * 0.45 + 0.05
    ct_like = organ.expand(1, channels, -1, -1).contiguous()
    worst, agreement = 0.0, []
    for x in (random, ct_like):
        with torch.no_grad():
            expected = model(x).numpy()
        padded = pad_to_multiple(x, multiple).numpy()
        got = session.run(None, {"image": padded})[0][..., : x.shape[-2], : x.shape[-1]]
        worst = max(worst, float(np.abs(got - expected).max()))
        agreement.append(float((got.argmax(1) == expected.argmax(1)).mean()))
    return {"max_abs_logit_difference": worst, "argmax_agreement": min(agreement)}


def export_cascade(out: Path, liver_path: Path | None = None,
                   tumour_path: Path | None = None) -> list[dict]:
    """Both stages (shipped weights unless given) to ``out``, all or nothing."""
    from livseg.infer import Cascade

    cascade = Cascade.shipped(liver_path=liver_path, tumour_path=tumour_path)
    with staged_folder(out) as staging:
        written = [export_stage(stage, staging) for stage in (cascade.liver, cascade.tumour)]
    return written


def read_export_description(path: Path) -> dict:
    return json.loads(Path(path).read_text())
