"""What every picture shares: the CT drawn in the abdominal window, and saving a figure so
that it appears only when complete."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from livseg.io.text import atomic_output

DISPLAY_WINDOW_HU = (-160.0, 240.0)  # abdomen: level 40, width 400
LIVER_RGB, TUMOUR_RGB = (0, 255, 0), (255, 0, 0)  # outlines and fills in every picture


def new_figure(figsize: tuple[float, float]):
    """A matplotlib Figure drawn off-screen (Agg), without pyplot: no GUI state, nothing to
    close, and half a second less to import."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def show_ct(axis, image_hu: np.ndarray, aspect: float = 1.0) -> None:
    """Draw an axial/coronal HU image in the abdominal window, without axes."""
    axis.imshow(image_hu, cmap="gray", vmin=DISPLAY_WINDOW_HU[0], vmax=DISPLAY_WINDOW_HU[1],
                aspect=aspect, interpolation="nearest")
    axis.axis("off")


def save_figure(figure, path: Path, dpi: int = 80, tight: bool = True) -> Path:
    """Lay out (``tight``) and write ``figure`` atomically as PNG."""
    if tight:
        figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=dpi, format="png")
    return Path(path)
