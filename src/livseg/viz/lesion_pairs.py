"""comparison.png: each followed lesion at the baseline and at the follow-up, side by side,
at the same place: the follow-up is drawn on the baseline's grid after registration.

One row per lesion track: the axial slice through its centroid, cut to a square around it,
with liver (green) and tumour (red) outlines; drawn like overlay.png (Pillow, square mm).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from livseg.errors import printable
from livseg.io.text import atomic_output
from livseg.io.volume import Volume
from livseg.preprocess import BoundingBox
from livseg.viz.overlay import outlined_view

TILE = 200  # pixels of each view
CAPTION = 18
MIN_HALF_WIDTH_MM = 30.0


@dataclass(frozen=True)
class LesionPair:
    """One row of the picture: the axial window around a lesion at both times, on one grid
    (the follow-up moved onto the baseline's), canonical (rows anterior to posterior)."""

    caption: str
    baseline_ct: np.ndarray  # (rows, columns) HU
    baseline_labels: np.ndarray  # 0/1/2
    followup_ct: np.ndarray
    followup_labels: np.ndarray
    pixel_mm: tuple[float, float]  # rows, columns


def lesion_window(grid: Volume, centroid_mm: list[float], diameter_mm: float) -> BoundingBox:
    """The box of ``grid`` (canonical, so that axis 0 runs across axial slices) drawn for a
    lesion: the axial slice through ``centroid_mm`` and a square around it, 1.5 diameters
    (at least ``MIN_HALF_WIDTH_MM``) each way."""
    half_width_mm = max(MIN_HALF_WIDTH_MM, 1.5 * diameter_mm)
    axes = grid.direction_matrix * np.asarray(grid.spacing)  # columns: each index step in mm
    index_xyz = np.linalg.solve(axes, np.asarray(centroid_mm, float) - np.asarray(grid.origin))
    z, y, x = (int(round(v)) for v in index_xyz[::-1])
    z = int(np.clip(z, 0, grid.shape[0] - 1))
    start, stop = [z], [z + 1]
    for centre, spacing, size in ((y, grid.spacing_zyx[1], grid.shape[1]),
                                  (x, grid.spacing_zyx[2], grid.shape[2])):
        half = max(1, round(half_width_mm / spacing))
        start.append(int(np.clip(centre - half, 0, size - 1)))
        stop.append(int(np.clip(centre + half + 1, 1, size)))
    return BoundingBox(tuple(start), tuple(stop))


def save_lesion_pairs(rows: list[LesionPair], path: Path, title: str) -> Path:
    """comparison.png: a caption and the two outlined views of each row."""
    width = 2 * TILE
    page = Image.new("RGB", (width, CAPTION + max(1, len(rows)) * (TILE + CAPTION)),
                     (255, 255, 255))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=12)
    draw.text((width // 2, 2), printable(title), fill=(0, 0, 0), font=font, anchor="mt")
    for number, row in enumerate(rows):
        top = CAPTION + number * (TILE + CAPTION)
        draw.text((width // 2, top + 2), printable(row.caption), fill=(0, 0, 0), font=font,
                  anchor="mt")
        for column, (ct, labels) in enumerate(((row.baseline_ct, row.baseline_labels),
                                               (row.followup_ct, row.followup_labels))):
            view = outlined_view(ct, labels, *row.pixel_mm, (TILE - 4, TILE - 4))
            page.paste(view, (column * TILE + (TILE - view.width) // 2,
                              top + CAPTION + (TILE - view.height) // 2))
    with atomic_output(path) as temporary:
        page.save(temporary, format="PNG", optimize=False)
    return Path(path)
