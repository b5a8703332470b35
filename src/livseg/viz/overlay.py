"""overlay.png: axial slices through the liver with liver and tumour outlines, and a
coronal view, drawn in the canonical orientation (patient's right on the image's left).

Drawn with NumPy and Pillow rather than matplotlib: ``livseg predict`` writes this picture
for every case, and matplotlib's import and layout alone took longer than the tumour stage.
Pixels are square in millimetres (each view is resampled to its voxel aspect).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from livseg.errors import printable
from livseg.io.text import atomic_output
from livseg.io.volume import Volume
from livseg.preprocess import to_canonical
from livseg.viz.figures import DISPLAY_WINDOW_HU, LIVER_RGB, TUMOUR_RGB

TILE = 256  # pixels of the longer side of each axial view
COLUMNS = 4
CAPTION = 18  # pixels above each view for its caption


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
    canonical_ct, _ = to_canonical(ct, copy=False)
    canonical_labels = to_canonical(labels, copy=False)[0].array
    image = canonical_ct.array
    spacing_z, spacing_y, spacing_x = canonical_ct.spacing_zyx
    views = [(f"axial {z}", outlined_view(image[z], canonical_labels[z], spacing_y,
                                          spacing_x, (TILE, TILE)))
             for z in choose_axial_slices(canonical_labels, count)]
    liver_rows = np.flatnonzero((canonical_labels >= 1).any(axis=(0, 2)))
    y = int(np.median(liver_rows)) if len(liver_rows) else image.shape[1] // 2
    coronal = outlined_view(image[::-1, y, :], canonical_labels[::-1, y, :], spacing_z,
                            spacing_x, (2 * TILE, COLUMNS * TILE))
    page = _layout(views, (f"coronal (row {y})", coronal),
                   title or "liver (green) and tumour (red) outlines")
    with atomic_output(path) as temporary:
        page.save(temporary, format="PNG", optimize=False)
    return Path(path)


def outlined_view(image_hu: np.ndarray, labels: np.ndarray, spacing_rows: float,
                  spacing_columns: float, box: tuple[int, int]) -> Image.Image:
    """One view, in the abdominal window, resampled to square millimetres and fitted into
    ``box`` (height, width), with one-pixel liver and tumour outlines."""
    height_mm, width_mm = image_hu.shape[0] * spacing_rows, image_hu.shape[1] * spacing_columns
    scale = min(box[0] / height_mm, box[1] / width_mm)
    size = (max(1, round(width_mm * scale)), max(1, round(height_mm * scale)))  # PIL: (w, h)
    low, high = DISPLAY_WINDOW_HU
    grey = np.clip((image_hu.astype(np.float32) - low) * (255.0 / (high - low)), 0, 255)
    picture = Image.fromarray(grey.astype(np.uint8)).resize(size, Image.Resampling.BILINEAR)
    shown = np.asarray(Image.fromarray(labels.astype(np.uint8)).resize(
        size, Image.Resampling.NEAREST))
    rgb = np.repeat(np.asarray(picture)[..., None], 3, axis=2)
    for level, colour in ((1, LIVER_RGB), (2, TUMOUR_RGB)):
        region = shown >= level
        rgb[region & ~ndimage.binary_erosion(region)] = colour
    return Image.fromarray(rgb)


def _layout(views: list[tuple[str, Image.Image]], coronal: tuple[str, Image.Image],
            title: str) -> Image.Image:
    rows = -(-len(views) // COLUMNS)
    width = COLUMNS * TILE
    height = CAPTION + rows * (TILE + CAPTION) + CAPTION + coronal[1].height
    page = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=12)
    draw.text((width // 2, 2), printable(title), fill=(0, 0, 0), font=font, anchor="mt")
    for number, (caption, view) in enumerate(views):
        left, top = (number % COLUMNS) * TILE, CAPTION + (number // COLUMNS) * (TILE + CAPTION)
        draw.text((left + TILE // 2, top + 2), caption, fill=(0, 0, 0), font=font, anchor="mt")
        page.paste(view, (left + (TILE - view.width) // 2,
                          top + CAPTION + (TILE - view.height) // 2))
    top = CAPTION + rows * (TILE + CAPTION)
    draw.text((width // 2, top + 2), coronal[0], fill=(0, 0, 0), font=font, anchor="mt")
    page.paste(coronal[1], ((width - coronal[1].width) // 2, top + CAPTION))
    return page
