"""livseg: liver and liver-tumour segmentation in abdominal CT.

    import livseg
    ct = livseg.read_volume("ct.nii.gz")        # or a DICOM series folder
    result = livseg.segment(ct)                  # shipped weights, CPU
    livseg.write_volume(result.labels, "segmentation.nii.gz")
"""
from __future__ import annotations

from livseg.errors import LivsegInputError
from livseg.io import Volume, read_volume, write_volume

__version__ = "0.1.0"
__all__ = ["LivsegInputError", "Volume", "read_volume", "segment", "write_volume",
           "__version__"]


def __getattr__(name: str):
    if name == "segment":  # imported on first use: reading files never loads torch
        from livseg.predict import segment

        return segment
    raise AttributeError(f"module 'livseg' has no attribute {name!r}")
