"""comparison.png: each followed lesion at the baseline and at the follow-up, side by side,
at the same place: the follow-up is drawn on the baseline's grid after registration.

One row per lesion track: the axial slice through its centroid, cut to a square around it,
with liver (green) and tumour (red) outlines; drawn like overlay.png (Pillow, square mm).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from livseg.errors import printable
from livseg.io.text import atomic_output
from livseg.io.volume import Volume
from livseg.preprocess import to_canonical
from livseg.viz.overlay import outlined_view

TILE = 200  # pixels of each view
CAPTION = 18
MIN_HALF_WIDTH_MM = 30.0


def save_lesion_pairs(baseline_ct: Volume, baseline_labels: Volume, followup_ct: Volume,
                      followup_labels: Volume, rows: list[tuple[str, list[float], float]],
                      path: Path, title: str) -> Path:
    """``rows``: (caption, centroid in mm, lesion diameter in mm) per track. All four
    volumes lie on one grid (the follow-up moved onto the baseline's)."""
    pictures = []
    for ct, labels in ((baseline_ct, baseline_labels), (followup_ct, followup_labels)):
        canonical, _ = to_canonical(ct, copy=False)
        pictures.append((canonical, to_canonical(labels, copy=False)[0].array))
    grid = pictures[0][0]
    width = 2 * TILE
    page = Image.new("RGB", (width, CAPTION + max(1, len(rows)) * (TILE + CAPTION)),
                     (255, 255, 255))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=12)
    draw.text((width // 2, 2), printable(title), fill=(0, 0, 0), font=font, anchor="mt")
    for number, (caption, centroid_mm, diameter_mm) in enumerate(rows):
        top = CAPTION + number * (TILE + CAPTION)
        draw.text((width // 2, top + 2), printable(caption), fill=(0, 0, 0), font=font,
                  anchor="mt")
        window = _window(grid, centroid_mm, max(MIN_HALF_WIDTH_MM, 1.5 * diameter_mm))
        for column, (canonical, labels) in enumerate(pictures):
            view = outlined_view(canonical.array[window], labels[window],
                                 *grid.spacing_zyx[1:], (TILE - 4, TILE - 4))
            page.paste(view, (column * TILE + (TILE - view.width) // 2,
                              top + CAPTION + (TILE - view.height) // 2))
    with atomic_output(path) as temporary:
        page.save(temporary, format="PNG", optimize=False)
    return Path(path)


def _window(grid: Volume, centroid_mm: list[float], half_width_mm: float) -> tuple:
    """The axial slice through ``centroid_mm`` and the square of rows and columns around it
    (``grid``: canonical, so that axis 0 runs across axial slices)."""
    axes = grid.direction_matrix * np.asarray(grid.spacing)  # columns: each index step in mm
    index_xyz = np.linalg.solve(axes, np.asarray(centroid_mm, float) - np.asarray(grid.origin))
    z, y, x = (int(round(v)) for v in index_xyz[::-1])
    z = int(np.clip(z, 0, grid.shape[0] - 1))
    spans = []
    for centre, spacing, size in ((y, grid.spacing_zyx[1], grid.shape[1]),
                                  (x, grid.spacing_zyx[2], grid.shape[2])):
        half = max(1, round(half_width_mm / spacing))
        spans.append(slice(int(np.clip(centre - half, 0, size - 1)),
                           int(np.clip(centre + half + 1, 1, size))))
    return (z, *spans)
