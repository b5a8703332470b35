"""The weights shipped in the package load, match their checksums and describe themselves."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

import livseg
from livseg.models.checkpoint import load_model

WEIGHTS = Path(livseg.__file__).parent / "weights"
LISTED = [line.split() for line in (WEIGHTS / "SHA256SUMS").read_text().splitlines() if line]


@pytest.mark.parametrize(("digest", "name"), LISTED)
def test_shipped_weights_match_their_checksum(digest, name):
    assert hashlib.sha256((WEIGHTS / name).read_bytes()).hexdigest() == digest


def test_liver_weights_rebuild_from_the_checkpoint_alone():
    model, description = load_model(WEIGHTS / "liver_mobileunet.pt")
    assert description["stage"] == "liver"
    assert description["input"]["window_hu"] == [0.0, 160.0]
    assert description["validation"]["dice"] > 0.9
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 96, 80)).shape == (1, 2, 96, 80)
