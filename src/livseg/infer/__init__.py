"""Inference: the trained stages, the cascade and its post-processing."""
from __future__ import annotations

from livseg.infer.cascade import Cascade, CascadeResult, CascadeSettings
from livseg.infer.stage import Stage

__all__ = ["Cascade", "CascadeResult", "CascadeSettings", "Stage"]
