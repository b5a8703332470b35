"""Score a checkpoint on the validation volumes it records, as the training loop does
(pooled over slices) and per volume, without and with flip test-time augmentation.
Usage: python tools/validate_checkpoint.py CKPT DATA"""
from __future__ import annotations

import sys

import numpy as np
import torch

from livseg.metrics.overlap import Confusion, overlap_scores
from livseg.train.checkpoint import load_model
from livseg.train.sources import load_data


def main(checkpoint: str, data_spec: str) -> None:
    model, description = load_model(checkpoint)
    model = model.to(memory_format=torch.channels_last)
    size = tuple(description["input"]["size"])
    data = load_data(data_spec, stage=description["stage"],
                     window=description["input"]["window_hu"], size=size)
    held_out = set(description["training"]["validation_volumes"])
    part = data.subset(np.isin(data.volume_ids, list(held_out)))
    target = part.labels >= 1 if description["stage"] == "liver" else part.labels == 2
    images = torch.from_numpy(part.images.astype(np.float32))[:, None]
    for flips in ([()], [(), (-1,), (-2,)]):
        prediction = _predict(model, images, flips)
        _report(checkpoint, description, part, held_out, prediction, target,
                "no TTA" if len(flips) == 1 else "flip TTA (none, left-right, up-down)")


@torch.no_grad()
def _predict(model, images: torch.Tensor, flips) -> np.ndarray:
    out = []
    for start in range(0, len(images), 16):
        batch = images[start:start + 16]
        probability = sum(
            model(batch.flip(f).contiguous(memory_format=torch.channels_last))
            .softmax(1).flip(f) if f else
            model(batch.contiguous(memory_format=torch.channels_last)).softmax(1)
            for f in flips)
        out.append(probability.argmax(1))
    return torch.cat(out).numpy().astype(bool)


def _report(checkpoint, description, part, held_out, prediction, target, how) -> None:
    pooled = overlap_scores(Confusion.of(prediction, target))
    per_volume = [overlap_scores(Confusion.of(prediction[part.volume_ids == v],
                                              target[part.volume_ids == v]))["dice"]
                  for v in sorted(held_out)]
    print(f"{checkpoint}, {how}: {len(part)} slices of {len(held_out)} held-out volumes "
          f"(epoch {description['validation'].get('epoch')})")
    print("pooled over slices: " + ", ".join(f"{k} {v:.4f}" for k, v in pooled.items()
                                             if v is not None))
    print(f"mean per-volume Dice {np.mean(per_volume):.4f} (min {np.min(per_volume):.4f})")


if __name__ == "__main__":
    main(*sys.argv[1:3])
