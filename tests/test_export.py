"""ONNX export: files with their preprocessing, checked against torch, for any size."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from livseg.cli import main
from livseg.export import export_stage
from livseg.models.blocks import pad_to_multiple
from livseg.phantom import make_phantom
from livseg.preprocess import hu_window, to_canonical

from .viz.test_explain import _mobileunet_stage

onnxruntime = pytest.importorskip("onnxruntime")


def test_export_stage_writes_model_and_description(tmp_path):
    stage = _mobileunet_stage("tumour", pixel_mm=1.5)
    description = export_stage(stage, tmp_path)
    on_disk = json.loads((tmp_path / "tumour.json").read_text())
    assert on_disk == description and description["file"] == "tumour.onnx"
    assert description["input"]["pixel_mm"] == 1.5 and description["input"]["size_multiple"] == 16
    assert description["check"]["max_abs_logit_difference"] < 1e-3
    assert description["check"]["argmax_agreement"] == 1.0
    # on a real-looking slice of odd size, padded as the description says
    phantom = make_phantom(shape=(8, 70, 90), spacing=(2.0, 2.0, 5.0), n_tumours=1, seed=2)
    slice_hu = to_canonical(phantom.ct)[0].array[4].astype(np.float32)
    x = torch.from_numpy(hu_window(slice_hu, 0, 255)[None, None])
    session = onnxruntime.InferenceSession(str(tmp_path / "tumour.onnx"),
                                           providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": pad_to_multiple(x, 16).numpy()})[0][..., :70, :90]
    with torch.no_grad():
        expected = stage.model(x).numpy()
    assert np.abs(got - expected).max() < 1e-3


def test_cli_exports_the_shipped_stages(tmp_path, capsys):
    assert main(["export", "--out", str(tmp_path / "onnx")]) == 0
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == [
        "liver.json", "liver.onnx", "tumour.json", "tumour.onnx"]
    liver = json.loads((tmp_path / "onnx" / "liver.json").read_text())
    assert liver["input"]["window_hu"] == [0.0, 255.0] and liver["opset"] == 17
    assert liver["check"]["argmax_agreement"] > 0.999
    assert main(["export", "--out", str(tmp_path / "onnx")]) == 2  # exists: not replaced
    assert "--overwrite" in capsys.readouterr().err
