"""livseg: liver and liver-tumour segmentation in abdominal CT."""
from __future__ import annotations

from livseg.errors import LivsegInputError
from livseg.io import Volume, read_volume, write_volume

__version__ = "0.1.0"
__all__ = ["LivsegInputError", "Volume", "read_volume", "write_volume", "__version__"]
