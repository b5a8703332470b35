"""Explanations: every watched layer's maps and a Grad-CAM that points at the evidence."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from livseg.infer import Cascade, Stage
from livseg.infer.runners import TorchRunner
from livseg.models import build_model
from livseg.viz.explain import explain_slice, explain_stage, watched_layers

from ..infer.threshold_stages import block_volume, threshold_stage


def _mobileunet_stage(stage: str, pixel_mm=None) -> Stage:
    torch.manual_seed(0)
    model = build_model("mobileunet", in_channels=1, num_classes=2, width=0.5, depth=3)
    description = {"stage": stage, "livseg_version": "test",
                   "architecture": dict(model.build_args),
                   "input": {"window_hu": [0.0, 255.0], "size": [64, 64], "in_channels": 1,
                             "pixel_mm": pixel_mm}, "validation": {},
                   "labels": {"0": "background", "1": stage}}
    return Stage(TorchRunner(model), description, "random", "0" * 64)


def test_feature_maps_of_every_watched_layer_and_a_normalised_cam():
    stage = _mobileunet_stage("liver")
    image = np.full((64, 64), -100.0, np.float32)
    image[20:40, 10:50] = 200.0
    features, cam, probability = explain_stage(stage, image)
    assert list(features) == list(watched_layers(stage.model))
    assert features["stem"].shape[1:] == (32, 32) and features["encoder3"].shape[1:] == (4, 4)
    assert cam.shape == image.shape and cam.min() >= 0 and cam.max() <= 1
    assert probability.shape == image.shape and 0 <= probability.min() <= probability.max() <= 1


@pytest.mark.slow
def test_explain_slice_writes_both_stages(tmp_path):
    volume, _ = block_volume()
    liver = _mobileunet_stage("liver")
    # the liver mask (which picks the tumour ROI) comes from a stage with a known answer
    liver.probability = threshold_stage("liver").probability
    written = explain_slice(volume, Cascade(liver, _mobileunet_stage("tumour", 1.5)), None,
                            tmp_path / "explain")
    names = set(written["files"])
    layers = watched_layers(liver.model)
    assert names == {f"{stage}_features_{layer}.png" for stage in ("liver", "tumour")
                     for layer in layers} | {"liver_gradcam.png", "tumour_gradcam.png"}
    assert sorted(p.name for p in (tmp_path / "explain").iterdir()) == sorted(names)
    assert 0 <= written["slice"] < volume.shape[0]
