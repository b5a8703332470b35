"""One shared test class runs every registered network; each gets a small subclass."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from livseg.models import MODELS, build_model, count_macs, count_parameters
from livseg.models.blocks import PaddedCore, pad_to_multiple


class ModelContract:
    """What every registered network must do. Subclasses set ``name`` and ``kwargs``."""

    name: str = ""
    kwargs: dict = {}
    odd_size = (37, 45)

    def build(self, in_channels=1, num_classes=2):
        torch.manual_seed(0)
        return build_model(self.name, in_channels=in_channels, num_classes=num_classes,
                           **self.kwargs)

    @pytest.mark.parametrize("in_channels", [1, 3])
    def test_forward_on_odd_sizes_keeps_height_and_width(self, in_channels):
        model = self.build(in_channels=in_channels, num_classes=3).eval()
        with torch.no_grad():
            logits = model(torch.randn(2, in_channels, *self.odd_size))
        assert logits.shape == (2, 3, *self.odd_size)
        assert torch.isfinite(logits).all()

    def test_backward_reaches_every_parameter(self):
        model = self.build().train()
        x = torch.randn(2, 1, *self.odd_size)
        target = torch.randint(0, 2, (2, *self.odd_size))
        loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        for name, parameter in model.named_parameters():
            assert parameter.grad is not None, f"{name} got no gradient"
            assert torch.isfinite(parameter.grad).all(), f"{name} has a non-finite gradient"
        assert any(p.grad.abs().sum() > 0 for p in model.parameters())

    def test_save_and_load_give_identical_outputs(self):
        model = self.build().eval()
        buffer = io.BytesIO()
        torch.save({"args": model.build_args, "state": model.state_dict()}, buffer)
        buffer.seek(0)
        saved = torch.load(buffer, weights_only=True)
        args = dict(saved["args"])
        rebuilt = build_model(args.pop("name"), **args)
        rebuilt.load_state_dict(saved["state"])
        rebuilt.eval()
        x = torch.randn(1, 1, 64, 48)
        with torch.no_grad():
            assert torch.equal(model(x), rebuilt(x))

    def test_size_and_cost_are_reported(self, record_property):
        model = self.build()
        params, macs = count_parameters(model), count_macs(model, 1, (256, 256))
        record_property("params", params)
        record_property("gmacs_per_256_slice", macs / 1e9)
        assert params > 0 and macs > params

    def test_exports_to_onnx_with_dynamic_size(self, tmp_path):
        import onnxruntime

        model = self.build().eval()
        core = PaddedCore(model)  # the runtime pads to a multiple of core.size_multiple
        path = tmp_path / "model.onnx"
        torch.onnx.export(core, (torch.randn(1, 1, 64, 64),), str(path),
                          input_names=["image"], output_names=["logits"], dynamo=False,
                          dynamic_axes={"image": {0: "n", 2: "h", 3: "w"},
                                        "logits": {0: "n", 2: "h", 3: "w"}})
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        x = torch.randn(2, 1, 37, 45)
        with torch.no_grad():
            expected = model(x).numpy()
        padded = pad_to_multiple(x, core.size_multiple)
        got = session.run(None, {"image": padded.numpy()})[0][..., :37, :45]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-3)


class TestMobileUNet(ModelContract):
    name = "mobileunet"

    def test_default_is_small_and_cheap(self):
        model = self.build()
        assert count_parameters(model) < 1_000_000
        assert count_macs(model, 1, (256, 256)) < 1_000_000_000

    def test_every_spatial_convolution_is_depthwise(self):
        for module in self.build().modules():
            if isinstance(module, torch.nn.Conv2d) and module.kernel_size != (1, 1):
                assert module.groups == module.in_channels == module.out_channels

    def test_width_multiplier_grows_the_network(self):
        small = count_parameters(build_model("mobileunet", width=0.5))
        large = count_parameters(build_model("mobileunet", width=1.5))
        assert small < count_parameters(self.build()) < large


class TestMobileUNetFullResolutionHead(TestMobileUNet):
    """The same contract with the head that classifies at the input's resolution."""

    kwargs = {"full_resolution_head": True}

    def test_the_full_resolution_layer_costs_a_fraction_more(self):
        plain, full = build_model("mobileunet", in_channels=3), self.build(in_channels=3)
        ratio = count_macs(full, 3, (192, 192)) / count_macs(plain, 3, (192, 192))
        assert 1.05 < ratio < 1.2  # the tumour stage's input: 3 slices, 192x192
        assert count_parameters(full) > count_parameters(plain)


class TestUNet(ModelContract):
    name = "unet"
    kwargs = {"base": 8}  # the shared checks on a narrow copy; full size checked below

    def test_full_size_matches_the_paper(self):
        model = build_model("unet")
        convolutions = [m for m in model.modules()
                        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
        assert len(convolutions) == 23
        assert 30e6 < count_parameters(model) < 32e6


class TestResUNet(ModelContract):
    name = "resunet"
    kwargs = {"base": 8}

    def test_full_size_has_the_paper_channels(self):
        model = build_model("resunet")
        assert [u.body[-1].out_channels for u in model.encoder] == [64, 128, 256]
        assert model.bridge.body[-1].out_channels == 512


def test_registry_knows_three_networks_and_refuses_others():
    assert set(MODELS) == {"mobileunet", "unet", "resunet"}
    with pytest.raises(KeyError, match="unknown architecture"):
        build_model("segformer")
