"""Score a checkpoint on the validation volumes it records, as the training loop does
(pooled over slices) and per volume, through the cascade's own :class:`Stage`: without
test-time augmentation and, when the network was trained with flips, with flip TTA; then
how the pooled Dice holds when every slice's intensity is offset (scanners and contrast phases
differ: the liver's median is 46 HU in ../shared/data/totalseg_ct_sm, 186 HU in lits_small).
Usage: python tools/validate_checkpoint.py CKPT DATA"""
from __future__ import annotations

import sys

import numpy as np

from livseg.infer import Stage
from livseg.metrics.overlap import Confusion, overlap_scores
from livseg.preprocess import hu_from_window
from livseg.train.sources import load_data


def main(checkpoint: str, data_spec: str) -> None:
    stage = Stage.load(checkpoint, backend="torch")
    description = stage.description
    data = load_data(data_spec, stage=stage.name, window=stage.window, size=stage.size)
    held_out = set(description["training"]["validation_volumes"])
    part = data.subset(np.isin(data.volume_ids, list(held_out)))
    target = part.labels >= 1 if stage.name == "liver" else part.labels == 2
    hu = hu_from_window(part.images.astype(np.float32), *stage.window)
    for tta in (False, True) if len(stage.tta_flips) > 1 else (False,):
        prediction = stage.probability(hu, batch_size=16, tta=tta) >= 0.5
        _report(checkpoint, description, part, held_out, prediction, target,
                "flip TTA (none, left-right, up-down)" if tta else "no TTA")
    print("pooled Dice with HU offset: " + ", ".join(
        f"{offset:+d} {_dice_at_offset(stage, hu, target, offset):.4f}"
        for offset in HU_OFFSETS))


#: Offsets added to every unsaturated pixel: a pixel at the window's edge stands for every
#: HU beyond it (air, bone), so it stays where it is.
HU_OFFSETS = (-50, -25, 0, 25, 50)


def _dice_at_offset(stage: Stage, hu: np.ndarray, target: np.ndarray, offset: int) -> float:
    low, high = stage.window
    inside = (hu > low) & (hu < high)
    shifted = np.where(inside, np.clip(hu + offset, low, high), hu).astype(np.float32)
    prediction = stage.probability(shifted, batch_size=16) >= 0.5
    return overlap_scores(Confusion.of(prediction, target))["dice"]


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
