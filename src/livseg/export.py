"""ONNX export of the cascade's stages, each checked against its torch model.

Each stage becomes ``<stage>.onnx`` (input ``image`` (N, C, H, W) float32 with H and W
multiples of ``size_multiple``, output ``logits`` (N, 2, H, W); batch, height and width are
dynamic) and ``<stage>.json``: the preprocessing it expects (the checkpoint's input
description plus the padding rule), the opset, the source checkpoint's SHA-256 and its whole
self-description, and the check: the largest absolute difference of logits and the agreement
of the argmax between onnxruntime and torch on random and on CT-like input.

With ``int8`` each stage also becomes ``<stage>.int8.onnx`` (+ ``.int8.json``): onnxruntime's
static quantisation (QDQ, weights per channel int8, activations uint8), calibrated on real
slices of the data the stage was trained on (or of the given ``calibration`` data), checked
against torch on slices of the same data that the calibration did not see.
"""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

from livseg.errors import LivsegInputError
from livseg.infer import Stage
from livseg.infer.runners import OnnxRunner, pad_edge
from livseg.io.text import file_sha256, staged_folder, write_json
from livseg.models.onnx_graph import OPSET, export_onnx, require_onnx

CALIBRATION_SLICES = 48  # slices the int8 quantisation sees
CHECK_SLICES = 16  # further slices, unseen by the calibration, for the int8 check


def export_stage(stage: Stage, folder: Path, seed: int = 0,
                 calibration: np.ndarray | None = None,
                 calibration_source: str | None = None) -> list[dict]:
    """Write ``<stage>.onnx`` and ``<stage>.json`` to ``folder``, and with ``calibration``
    slices ((N, C, H, W) float32, as the network sees them; from ``calibration_source``)
    the int8 pair too; returns the JSON contents."""
    require_onnx()
    model = stage.model
    path = folder / f"{stage.name}.onnx"
    multiple = export_onnx(model, stage.in_channels, stage.size, str(path))
    runner = OnnxRunner(path, multiple)
    written = [_describe(stage, path, multiple, "float32",
                         _compare(model, runner, stage.in_channels, seed))]
    write_json(path.with_suffix(".json"), written[0])
    if calibration is not None:
        int8_path = folder / f"{stage.name}.int8.onnx"
        _quantise(path, int8_path, calibration[:CALIBRATION_SLICES], multiple)
        runner = OnnxRunner(int8_path, multiple)
        check = _compare(model, runner, stage.in_channels, seed)
        check |= _agreement_on(model, runner, calibration[CALIBRATION_SLICES:])
        written.append(_describe(stage, int8_path, multiple, "int8", check) | {
            "quantisation": {"method": "onnxruntime static, QDQ, per-channel int8 weights, "
                                       "uint8 activations, MinMax calibration",
                             "calibration_slices": int(min(len(calibration),
                                                           CALIBRATION_SLICES)),
                             "calibration_data": calibration_source}})
        write_json(int8_path.with_suffix(".json"), written[-1])
    return written


def _describe(stage: Stage, path: Path, multiple: int, precision: str, check: dict) -> dict:
    return {
        "format": "livseg-onnx", "stage": stage.name, "file": path.name, "opset": OPSET,
        "precision": precision, "sha256": file_sha256(path),
        "source_checkpoint": {"file": stage.file, "sha256": stage.sha256},
        "input": {**stage.description["input"], "size_multiple": multiple,
                  "padding": "replicate the last row and column up to multiples of "
                             "size_multiple (bottom, right); crop the logits back"},
        "output": {"name": "logits", "labels": stage.description["labels"]},
        "check": check,
        "checkpoint": stage.description,
    }


def _quantise(source: Path, target: Path, slices: np.ndarray, multiple: int) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    padded = pad_edge(slices, multiple)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"image": padded[i:i + 8]} for i in range(0, len(padded), 8)])

        def get_next(self):
            return next(self.batches, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime warns on the root logger about every BN weight
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        try:
            quantize_static(str(prepared), str(target), Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)


def _compare(model, runner: OnnxRunner, channels: int, seed: int) -> dict:
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
        got = runner.logits(x.numpy())
        worst = max(worst, float(np.abs(got - expected).max()))
        agreement.append(float((got.argmax(1) == expected.argmax(1)).mean()))
    return {"max_abs_logit_difference": worst, "argmax_agreement": min(agreement)}


def _agreement_on(model, runner: OnnxRunner, slices: np.ndarray) -> dict:
    """Foreground Dice between torch and onnxruntime masks on real slices."""
    with torch.no_grad():
        expected = model(torch.from_numpy(slices)).numpy().argmax(1) == 1
    got = runner.logits(slices).argmax(1) == 1
    total = expected.sum() + got.sum()
    return {"real_slices": len(slices),
            "foreground_dice_vs_torch": float(2 * (expected & got).sum() / total) if total
            else 1.0}


def calibration_spec(stage: Stage) -> str | None:
    """The data the stage was trained on, as its checkpoint records it."""
    return stage.description.get("training", {}).get("data")


def calibration_slices(stage: Stage, spec: str | None = None, seed: int = 0) -> np.ndarray:
    """Real slices as ``stage``'s network sees them, (N, C, H, W) float32, from ``spec`` or
    the data the stage was trained on (as its checkpoint records), in a seeded random order."""
    from livseg.train.sources import load_data

    spec = spec or calibration_spec(stage)
    if not spec:
        raise LivsegInputError(f"the {stage.name} checkpoint records no training data; give "
                               "--calibration DATA")
    data = load_data(spec, stage=stage.name, window=stage.window, size=stage.size, seed=seed,
                     pixel_mm=stage.pixel_mm, liver_anchor_hu=stage.liver_anchor_hu)
    rows = np.random.default_rng(seed).permutation(len(data))[:CALIBRATION_SLICES + CHECK_SLICES]
    return np.ascontiguousarray(
        data.context(stage.in_channels, stage.context_mm).stack(data.images, rows), np.float32)


def export_cascade(out: Path, liver_path: Path | None = None,
                   tumour_path: Path | None = None, int8: bool = False,
                   calibration: str | None = None) -> list[dict]:
    """Both stages (shipped weights unless given) to ``out``, all or nothing."""
    from livseg.infer import Cascade

    cascade = Cascade.shipped(liver_path=liver_path, tumour_path=tumour_path, backend="torch")
    stages = (cascade.liver, cascade.tumour)
    slices = [calibration_slices(s, calibration) if int8 else None for s in stages]
    with staged_folder(out) as staging:
        written = [item for stage, cal in zip(stages, slices, strict=True)
                   for item in export_stage(stage, staging, calibration=cal,
                                            calibration_source=calibration
                                            or calibration_spec(stage))]
    return written


def read_export_description(path: Path) -> dict:
    return json.loads(Path(path).read_text())
