"""What every picture shares: the CT drawn in the abdominal window, and saving a figure so
that it appears only when complete."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from livseg.io.text import atomic_output

DISPLAY_WINDOW_HU = (-160.0, 240.0)  # abdomen: level 40, width 400


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def show_ct(axis, image_hu: np.ndarray, aspect: float = 1.0) -> None:
    """Draw an axial/coronal HU image in the abdominal window, without axes."""
    axis.imshow(image_hu, cmap="gray", vmin=DISPLAY_WINDOW_HU[0], vmax=DISPLAY_WINDOW_HU[1],
                aspect=aspect, interpolation="nearest")
    axis.axis("off")


def save_figure(figure, path: Path, dpi: int = 80) -> Path:
    """Lay out, write atomically as PNG, and close ``figure``."""
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=dpi, format="png")
    pyplot().close(figure)
    return Path(path)
