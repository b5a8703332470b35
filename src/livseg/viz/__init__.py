"""Pictures: overlays of segmentations on CT."""
from __future__ import annotations

from livseg.viz.overlay import save_overlay

__all__ = ["save_overlay"]
