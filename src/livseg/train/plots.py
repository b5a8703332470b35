"""What a training run leaves to look at: metrics.csv, curves.png, per-epoch montages."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from livseg.io.text import write_csv
from livseg.viz.figures import new_figure, save_figure

CURVES = (("loss", "loss"), ("dice", "Dice"), ("accuracy", "accuracy"),
          ("sensitivity", "sensitivity"), ("specificity", "specificity"))


def write_history(rows: list[dict], run_dir: Path) -> None:
    """metrics.csv and curves.png (train and validation per epoch) from the history rows."""
    write_csv(run_dir / "metrics.csv", rows)
    figure = new_figure((4 * len(CURVES), 3.4))
    axes = figure.subplots(1, len(CURVES))
    epochs = [row["epoch"] for row in rows]
    for axis, (key, title) in zip(axes, CURVES, strict=True):
        for split, style in (("train", "-o"), ("val", "-s")):
            axis.plot(epochs, [row[f"{split}_{key}"] for row in rows], style, markersize=3,
                      label=split)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    axes[0].legend()
    # a fixed layout: tight_layout measured every tick label again at every epoch (0.2-0.3 s)
    figure.subplots_adjust(left=0.03, right=0.99, bottom=0.15, top=0.9, wspace=0.22)
    save_figure(figure, run_dir / "curves.png", tight=False)


def save_montage(images: np.ndarray, reference: np.ndarray, prediction: np.ndarray,
                 path: Path, title: str) -> None:
    """Fixed validation slices: image, reference outline (green), prediction (red)."""
    count = len(images)
    figure = new_figure((2.6 * count, 3.0))
    axes = figure.subplots(1, count, squeeze=False)
    for axis, image, ref, pred in zip(axes[0], images, reference, prediction, strict=True):
        axis.imshow(image, cmap="gray", vmin=0, vmax=1)
        if ref.any():
            axis.contour(ref, levels=[0.5], colors="lime", linewidths=0.8)
        if pred.any():
            axis.contour(pred, levels=[0.5], colors="red", linewidths=0.8)
        axis.axis("off")
    figure.suptitle(title, fontsize=9)
    save_figure(figure, path)
