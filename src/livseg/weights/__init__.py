"""The trained checkpoints shipped in the package, checked against SHA256SUMS on load."""
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


def shipped_weights(stage: str) -> Path:
    """The path of the shipped checkpoint of ``stage`` ("liver" or "tumour")."""
    if stage not in SHIPPED:
        raise LivsegInputError(f"no shipped weights for stage {stage!r}")
    path = WEIGHTS_DIR / SHIPPED[stage]
    if not path.is_file():
        raise LivsegInputError("is missing from the installed package", path)
    return path


def verify_checksum(path: Path, digest: str) -> None:
    """Refuse a shipped checkpoint whose SHA-256 differs from SHA256SUMS."""
    expected = listed_checksums().get(Path(path).name)
    if Path(path).parent == WEIGHTS_DIR and expected != digest:
        raise LivsegInputError(f"checksum {digest[:12]}... differs from SHA256SUMS "
                               f"({(expected or 'not listed')[:12]}...); reinstall livseg",
                               path)
