"""Name -> network builder, and counting a network's size and cost."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from livseg.models.mobile_unet import MobileUNet
from livseg.models.resunet import ResUNet
from livseg.models.unet import UNet

MODELS: dict[str, Callable[..., nn.Module]] = {
    "mobileunet": MobileUNet,
    "unet": UNet,
    "resunet": ResUNet,
}


def build_model(name: str, in_channels: int = 1, num_classes: int = 2, **kwargs) -> nn.Module:
    """A registered network; ``kwargs`` are its constructor's plain-number arguments.

    The arguments are kept on the model as ``model.build_args`` so that a checkpoint can
    rebuild it with nothing else.
    """
    model = _builder(name)(in_channels=in_channels, num_classes=num_classes, **kwargs)
    model.build_args = {"name": name, "in_channels": in_channels, "num_classes": num_classes,
                        **kwargs}
    return model


def unknown_arguments(name: str, kwargs: dict) -> tuple[list[str], list[str]]:
    """(arguments of ``kwargs`` that network ``name`` does not take, those it takes)."""
    import inspect

    accepted = sorted(set(inspect.signature(_builder(name)).parameters)
                      - {"in_channels", "num_classes"})
    return sorted(set(kwargs) - set(accepted)), accepted


def _builder(name: str) -> Callable[..., nn.Module]:
    if name not in MODELS:
        raise KeyError(f"unknown architecture {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, in_channels: int, size: tuple[int, int] = (256, 256)) -> int:
    """Multiply-accumulates of one forward pass on one slice, by torch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, in_channels, *size))
    model.train(was_training)
    return counter.get_total_flops() // 2
