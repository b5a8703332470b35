"""overlay.png: axial slices through the liver with liver and tumour outlines, and a
coronal view, drawn in the canonical orientation (patient's right on the image's left)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from livseg.io.volume import Volume
from livseg.preprocess import to_canonical
from livseg.viz.figures import pyplot, save_figure, show_ct

LIVER_COLOUR, TUMOUR_COLOUR = "lime", "red"


def choose_axial_slices(labels: np.ndarray, count: int) -> list[int]:
    """``count`` slices spread over the liver, always including the largest tumour slice."""
    liver_slices = np.flatnonzero((labels >= 1).any(axis=(1, 2)))
    if len(liver_slices) == 0:
        return sorted({int(z) for z in np.linspace(0, len(labels) - 1, count).round()})
    chosen = set(np.linspace(liver_slices[0], liver_slices[-1], count).round().astype(int))
    tumour_area = (labels == 2).sum(axis=(1, 2))
    if tumour_area.any():
        chosen.discard(min(chosen, key=lambda z: abs(z - int(np.argmax(tumour_area)))))
        chosen.add(int(np.argmax(tumour_area)))
    return sorted(int(z) for z in chosen)


def save_overlay(ct: Volume, labels: Volume, path: Path, count: int = 8,
                 title: str = "") -> Path:
    """Write the overlay montage of ``labels`` (0/1/2) on ``ct`` (same grid) to ``path``."""
    plt = pyplot()
    canonical_ct, _ = to_canonical(ct)
    canonical_labels = to_canonical(labels)[0].array
    image = canonical_ct.array
    spacing_z, spacing_y, spacing_x = canonical_ct.spacing_zyx
    slices = choose_axial_slices(canonical_labels, count)
    columns = 4
    rows = -(-len(slices) // columns) + 1
    figure = plt.figure(figsize=(3 * columns, 3 * rows + 0.4))
    for number, z in enumerate(slices):
        axis = figure.add_subplot(rows, columns, number + 1)
        _draw(axis, image[z], canonical_labels[z], spacing_y / spacing_x)
        axis.set_title(f"axial {z}", fontsize=9)
    liver_rows = np.flatnonzero((canonical_labels >= 1).any(axis=(0, 2)))
    y = int(np.median(liver_rows)) if len(liver_rows) else image.shape[1] // 2
    axis = figure.add_subplot(rows, 1, rows)
    _draw(axis, image[::-1, y, :], canonical_labels[::-1, y, :], spacing_z / spacing_x)
    axis.set_title(f"coronal (row {y})", fontsize=9)
    figure.suptitle(title or "liver (green) and tumour (red) outlines", fontsize=10)
    return save_figure(figure, path, dpi=80)


def _draw(axis, image: np.ndarray, labels: np.ndarray, aspect: float) -> None:
    show_ct(axis, image, aspect)
    for level, colour in ((0.5, LIVER_COLOUR), (1.5, TUMOUR_COLOUR)):
        if (labels > level).any() and not (labels > level).all():
            axis.contour(labels > level, levels=[0.5], colors=[colour], linewidths=0.9)
