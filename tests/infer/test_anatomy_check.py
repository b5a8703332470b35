from __future__ import annotations

import numpy as np

from livseg.infer.anatomy_check import (
    body_frame,
    liver_on_left,
    liver_warnings,
    spine_in_front,
)


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


def _checks(hu, liver) -> tuple[bool, bool]:
    frame = body_frame(hu)
    return spine_in_front(hu, frame), liver_on_left(liver, frame)


def test_an_abdomen_the_right_way_round_passes_both_checks():
    hu, liver = _abdomen()
    assert _checks(hu, liver) == (False, False)


def test_upside_down_and_mirrored_images_are_recognised():
    hu, liver = _abdomen()
    assert _checks(hu[:, ::-1], liver[:, ::-1]) == (True, False)
    assert _checks(hu[:, :, ::-1], liver[:, :, ::-1]) == (False, True)
    assert _checks(hu[:, ::-1, ::-1], liver[:, ::-1, ::-1]) == (True, True)
    assert body_frame(np.full((4, 8, 8), -1000.0)) is None


def _ball(shape, centre, radius_voxels) -> np.ndarray:
    z, y, x = np.indices(shape)
    return (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius_voxels**2


def test_a_liver_of_plausible_size_in_one_piece_gets_no_warning():
    # a ball of radius 10 voxels (about 4189) of 4x5x5 mm: about 419 ml
    liver = _ball((40, 40, 40), (20, 20, 20), 10)
    assert liver_warnings(liver, liver, (4.0, 5.0, 5.0)) == []


def test_implausible_livers_are_named():
    liver = _ball((40, 40, 40), (20, 20, 20), 10)
    voxels = int(liver.sum())  # about 4189
    small = liver_warnings(liver, liver, (2.0, 5.0, 5.0))  # about 209 ml
    assert len(small) == 1 and f"{voxels * 0.05:.0f} ml" in small[0]
    assert liver_warnings(liver, liver, (20.0, 5.0, 5.0)) == []  # about 2094 ml
    huge = liver_warnings(liver, liver, (40.0, 5.0, 5.0))  # about 4189 ml
    assert len(huge) == 1 and f"{voxels:.0f} ml" in huge[0]
    assert "no liver" in liver_warnings(~liver & False, liver & False, (1, 1, 1))[0]


def test_a_second_large_piece_is_named_and_small_ones_are_not():
    shape = (40, 40, 90)
    largest, second = _ball(shape, (20, 20, 20), 10), _ball(shape, (20, 20, 65), 8)
    speck = _ball(shape, (5, 5, 45), 1)
    spacing = (4.0, 5.0, 5.0)  # largest 838 ml, second 429 ml, speck 0.7 ml
    warnings = liver_warnings(largest | second | speck, largest, spacing)
    assert len(warnings) == 1 and "2 separate large pieces" in warnings[0]
    assert liver_warnings(largest | speck, largest, spacing) == []
