"""Training's own use of checkpoints: starting a network from another's weights
(``--init-from``). The checkpoint format itself is ``livseg.models.checkpoint``."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from livseg.models.checkpoint import read_checkpoint


def load_matching_weights(model: nn.Module, path: Path) -> tuple[int, int]:
    """Copy every tensor of a checkpoint whose name and shape match (transfer learning).

    A single-slice network's input layers start a 2.5D one (k input slices): per-channel
    tensors (the stem's depthwise kernel and its norm) are repeated for every slice, and
    the convolution that mixes the slices takes the middle one with the neighbours at zero,
    so the new network begins as exactly the old one and learns what the neighbours add."""
    source = read_checkpoint(path)["model_state"]
    target = model.state_dict()
    matching = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    for name, weights in source.items():
        inflated = _inflated(weights, target.get(name))
        if name not in matching and inflated is not None:
            matching[name] = inflated
    model.load_state_dict(matching, strict=False)
    return len(matching), len(target)


def _inflated(weights: torch.Tensor, wanted: torch.Tensor | None) -> torch.Tensor | None:
    """``weights`` of one input slice grown to ``wanted``'s k slices, or None."""
    if wanted is None or weights.ndim != wanted.ndim or weights.ndim == 0:
        return None
    differ = [axis for axis in range(weights.ndim) if weights.shape[axis] != wanted.shape[axis]]
    if len(differ) != 1 or weights.shape[differ[0]] != 1 or wanted.shape[differ[0]] % 2 == 0:
        return None
    axis, k = differ[0], wanted.shape[differ[0]]
    if axis == 0:  # one value per input slice: the same for each
        return weights.expand_as(wanted).clone()
    if axis == 1 and weights.ndim == 4:  # mixes the slices: the middle one only
        grown = torch.zeros_like(wanted)
        grown[:, k // 2] = weights[:, 0]
        return grown
    return None
