"""The networks: Mobile U-Net and the U-Net and ResUNet baselines, by name."""
from __future__ import annotations

from livseg.models.registry import MODELS, build_model, count_macs, count_parameters

__all__ = ["MODELS", "build_model", "count_macs", "count_parameters"]
