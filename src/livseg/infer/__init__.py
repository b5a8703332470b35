"""Inference: the trained stages, the cascade and its post-processing.

The names are imported on first use, so that the command line can read ``runners.BACKENDS``
without loading the cascade and SciPy.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livseg.infer.cascade import Cascade, CascadeResult, CascadeSettings
    from livseg.infer.stage import Stage

__all__ = ["Cascade", "CascadeResult", "CascadeSettings", "Stage"]


def __getattr__(name: str):
    if name in ("Cascade", "CascadeResult", "CascadeSettings"):
        from livseg.infer import cascade

        return getattr(cascade, name)
    if name == "Stage":
        from livseg.infer.stage import Stage

        return Stage
    raise AttributeError(f"module 'livseg.infer' has no attribute {name!r}")
