"""livseg: liver and liver-tumour segmentation in abdominal CT.

    import livseg
    ct = livseg.read_volume("ct.nii.gz")        # or a DICOM series folder
    result = livseg.segment(ct)                  # shipped weights, CPU
    livseg.write_volume(result.labels, "segmentation.nii.gz")
"""
from __future__ import annotations

from livseg._version import __version__
from livseg.errors import LivsegInputError

__all__ = ["LivsegInputError", "Volume", "read_volume", "segment", "write_volume",
           "__version__"]


def __getattr__(name: str):
    """The API's names are imported on first use: ``livseg --version`` and the light
    commands never load NumPy, SimpleITK or onnxruntime, and reading files never loads
    torch (docs/speed.md)."""
    if name == "segment":
        from livseg.predict import segment

        return segment
    if name in ("Volume", "read_volume", "write_volume"):
        import livseg.io

        return getattr(livseg.io, name)
    raise AttributeError(f"module 'livseg' has no attribute {name!r}")
