"""Explanations: every watched layer's maps and a Grad-CAM that points at the evidence."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from livseg.infer import Cascade, Stage
from livseg.infer.runners import TorchRunner
from livseg.models import build_model
from livseg.viz.explain import explain_slice, explain_stage, feature_mosaic, watched_layers

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
    cascade = Cascade(_mobileunet_stage("liver"), _mobileunet_stage("tumour", 1.5))

    def whole_volume(*args, **kwargs):
        raise AssertionError("the explained cascade ran on the whole volume")

    cascade.liver_mask = whole_volume
    # the liver (which picks the slice and the tumour ROI) comes from a stage with a known
    # answer, as the CLI's onnxruntime cascade gives it
    locator = Cascade(threshold_stage("liver"), None)
    written = explain_slice(volume, cascade, None, tmp_path / "explain", locator=locator)
    names = set(written["files"])
    layers = watched_layers(cascade.liver.model)
    assert names == {f"{stage}_features_{layer}.png" for stage in ("liver", "tumour")
                     for layer in layers} | {"liver_gradcam.png", "tumour_gradcam.png"}
    assert sorted(p.name for p in (tmp_path / "explain").iterdir()) == sorted(names)
    assert 0 <= written["slice"] < volume.shape[0]


@pytest.mark.slow
def test_the_explain_command_on_a_phantom(tmp_path, capsys):
    from livseg.cli import main
    from livseg.io import write_volume
    from livseg.phantom import make_phantom

    ct = make_phantom(shape=(12, 64, 64), spacing=(5.0, 5.0, 10.0), n_tumours=1, seed=3).ct
    path = write_volume(ct, tmp_path / "ct.nii.gz")
    assert main(["explain", str(path), "-o", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 20
    assert "20 pictures" in capsys.readouterr().out


def test_the_feature_mosaic_scales_each_tile_to_its_own_range_and_leaves_gaps():
    maps = np.zeros((3, 4, 4), np.float32)
    maps[0] = np.arange(16).reshape(4, 4)  # 0..15
    maps[1] = 7.0  # flat
    maps[2] = -np.arange(16).reshape(4, 4) * 100  # 0..-1500
    mosaic, corners = feature_mosaic(maps, [2, 0, 1], columns=2)
    assert mosaic.shape == (9, 9)  # 2 x 2 tiles of 4, gaps of 1
    np.testing.assert_allclose(mosaic[:4, :4], (maps[2] + 1500) / 1500)  # channel 2 first
    np.testing.assert_allclose(mosaic[:4, 5:], maps[0] / 15)
    assert (mosaic[5:, :4] == 0).all() and np.isnan(mosaic[5:, 5:]).all()  # flat; no tile
    assert np.isnan(mosaic[4]).all() and np.isnan(mosaic[:, 4]).all()
    assert corners == [(0, 0), (0, 5), (5, 0)]
