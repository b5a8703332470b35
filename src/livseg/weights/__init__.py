"""The trained stages shipped in the package, checked against SHA256SUMS on load.

Each stage ships as its torch checkpoint (``<stage>_mobileunet.pt``) and as the ONNX model
exported from it (``onnx/<stage>.onnx`` with its ``.json``, made by
``livseg export --out src/livseg/weights/onnx``), which onnxruntime runs without torch.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

from livseg.errors import LivsegInputError

WEIGHTS_DIR = Path(__file__).parent
SHIPPED = {"liver": "liver_mobileunet.pt", "tumour": "tumour_mobileunet.pt"}


@cache
def listed_checksums() -> dict[str, str]:
    lines = (WEIGHTS_DIR / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def shipped_weights(stage: str, backend: str = "torch", int8: bool = False) -> Path:
    """The path of the shipped model of ``stage`` ("liver" or "tumour"): the checkpoint for
    torch, the exported model for onnx (its int8 quantisation with ``int8``)."""
    if stage not in SHIPPED:
        raise LivsegInputError(f"no shipped weights for stage {stage!r}")
    if int8 and backend != "onnx":
        raise LivsegInputError("the int8 models run on onnxruntime: use --backend onnx or auto")
    exported = f"onnx/{stage}.int8.onnx" if int8 else f"onnx/{stage}.onnx"
    path = WEIGHTS_DIR / (exported if backend == "onnx" else SHIPPED[stage])
    if not path.is_file():
        raise LivsegInputError("is missing from the installed package", path)
    return path


def verify_checksum(path: Path, digest: str) -> None:
    """Refuse a shipped model whose SHA-256 differs from SHA256SUMS."""
    path = Path(path)
    if WEIGHTS_DIR not in path.parents:
        return
    expected = listed_checksums().get(path.relative_to(WEIGHTS_DIR).as_posix())
    if expected != digest:
        raise LivsegInputError(f"checksum {digest[:12]}... differs from SHA256SUMS "
                               f"({(expected or 'not listed')[:12]}...); reinstall livseg",
                               path)
