"""Pictures for evaluation (the seed paper's Figures 2.2 and 3.2.3): CT | reference |
prediction, side by side, on the axial slices where the two label maps disagree most."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from livseg.io.volume import Volume
from livseg.preprocess import to_canonical
from livseg.viz.figures import LIVER_RGB, TUMOUR_RGB, new_figure, save_figure, show_ct


def most_disputed_slices(reference: np.ndarray, prediction: np.ndarray,
                         count: int) -> list[int]:
    """Indices of the ``count`` axial slices with the most differing voxels (tumour
    disagreement counted twice), in slice order; slices with no disagreement are skipped
    unless nothing differs at all, when the slices with most liver are shown."""
    differing = (reference != prediction).sum(axis=(1, 2)) + \
        ((reference == 2) != (prediction == 2)).sum(axis=(1, 2))
    if not differing.any():
        differing = (reference >= 1).sum(axis=(1, 2))
    order = np.argsort(-differing, kind="stable")[:count]
    return sorted(int(z) for z in order if differing[z] > 0) or [len(reference) // 2]


def save_comparison(ct: Volume, reference: Volume, prediction: Volume, path: Path,
                    count: int = 3, title: str = "") -> Path:
    """Write the CT | reference | prediction figure of one case (all on one grid)."""
    image = to_canonical(ct)[0]
    ref, pred = to_canonical(reference)[0].array, to_canonical(prediction)[0].array
    aspect = image.spacing_zyx[1] / image.spacing_zyx[2]
    slices = most_disputed_slices(ref, pred, count)
    figure = new_figure((10, 3.4 * len(slices)))
    axes = figure.subplots(len(slices), 3, squeeze=False)
    for row, z in zip(axes, slices, strict=True):
        for axis, labels, name in zip(row, (None, ref, pred), ("CT", "reference", "prediction"),
                                      strict=True):
            show_ct(axis, image.array[z], aspect)
            if labels is not None:
                overlay = np.zeros((*labels[z].shape, 4))
                overlay[labels[z] == 1] = (*np.divide(LIVER_RGB, 255), 0.35)
                overlay[labels[z] == 2] = (*np.divide(TUMOUR_RGB, 255), 0.6)
                axis.imshow(overlay, aspect=aspect, interpolation="nearest")
            axis.set_title(f"{name}, axial {z}", fontsize=9)
    figure.suptitle(title or "liver green, tumour red", fontsize=10)
    return save_figure(figure, path, dpi=72)
