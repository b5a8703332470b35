from __future__ import annotations

import numpy as np

from livseg.infer.anatomy_check import orientation_warnings


def _abdomen(shape=(12, 80, 100)) -> tuple[np.ndarray, np.ndarray]:
    """Canonical (z, y, x): rows anterior -> posterior, columns patient's right -> left."""
    z, y, x = np.indices(shape)
    hu = np.full(shape, -1000.0)
    body = ((y - 40) / 35.0) ** 2 + ((x - 50) / 45.0) ** 2 <= 1
    hu[body] = 40.0
    hu[((y - 64) ** 2 + (x - 50) ** 2) <= 36] = 700.0  # vertebra, posterior midline
    liver = body & (((y - 35) / 18.0) ** 2 + ((x - 28) / 18.0) ** 2 <= 1)  # patient's right
    hu[liver] = 60.0
    return hu, liver


def test_an_abdomen_the_right_way_round_gets_no_warning():
    hu, liver = _abdomen()
    assert orientation_warnings(hu, liver) == []


def test_upside_down_and_mirrored_images_are_named():
    hu, liver = _abdomen()
    upside_down = orientation_warnings(hu[:, ::-1], liver[:, ::-1])
    assert len(upside_down) == 1 and "upside down" in upside_down[0]
    mirrored = orientation_warnings(hu[:, :, ::-1], liver[:, :, ::-1])
    assert len(mirrored) == 1 and "patient's left" in mirrored[0]
    assert len(orientation_warnings(hu[:, ::-1, ::-1], liver[:, ::-1, ::-1])) == 2


def test_no_bone_no_liver_or_no_body_says_nothing():
    hu, liver = _abdomen()
    hu[hu > 300] = 40.0
    assert orientation_warnings(hu[:, ::-1], np.zeros_like(liver)) == []
    assert orientation_warnings(np.full((3, 8, 8), -1000.0), np.zeros((3, 8, 8), bool)) == []
