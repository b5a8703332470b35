"""Training's own use of checkpoints: starting a network from another's weights
(``--init-from``). The checkpoint format itself is ``livseg.models.checkpoint``."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from livseg.models.checkpoint import read_checkpoint


def load_matching_weights(model: nn.Module, path: Path) -> tuple[int, int]:
    """Copy every tensor of a checkpoint whose name and shape match (transfer learning).

    A network of fewer input slices (1, or an odd k) starts one of more (2.5D, an odd k'
    > k): its slices are the new one's middle ones. Per-slice tensors (the stem's depthwise
    kernel and its norm) are copied there and repeated outwards from the outermost old
    slice, and the convolution that mixes the slices takes the old slices' weights with the
    new outer slices at zero, so the new network begins as exactly the old one and learns
    what the farther neighbours add."""
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
    """``weights`` of k input slices grown to ``wanted``'s k' > k slices (both odd), or
    None when the two differ otherwise."""
    if wanted is None or weights.ndim != wanted.ndim or weights.ndim == 0:
        return None
    differ = [axis for axis in range(weights.ndim) if weights.shape[axis] != wanted.shape[axis]]
    if len(differ) != 1:
        return None
    axis = differ[0]
    k, grown_k = weights.shape[axis], wanted.shape[axis]
    if k % 2 == 0 or grown_k % 2 == 0 or grown_k < k:
        return None
    pad = (grown_k - k) // 2
    if axis == 0:  # one value per input slice: the outermost old ones repeated outwards
        index = torch.clamp(torch.arange(grown_k) - pad, 0, k - 1)
        return weights[index].clone()
    if axis == 1 and weights.ndim == 4:  # mixes the slices: the old ones, the new at zero
        grown = torch.zeros_like(wanted)
        grown[:, pad:pad + k] = weights
        return grown
    return None
