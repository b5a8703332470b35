"""Surfaces: closed, outward, in patient millimetres, readable back from STL and PLY."""
from __future__ import annotations

import numpy as np
import pytest

from livseg.io import Volume
from livseg.viz.mesh import surface_mesh, write_mesh


def _ball(direction) -> Volume:
    z, y, x = np.indices((30, 40, 44))
    spacing = (0.9, 1.2, 2.0)  # x, y, z mm
    inside = ((x - 20) * 0.9) ** 2 + ((y - 19) * 1.2) ** 2 + ((z - 14) * 2.0) ** 2 <= 15.0 ** 2
    return Volume(inside.astype(np.uint8), spacing=spacing, origin=(5.0, -7.0, 30.0),
                  direction=tuple(float(d) for d in direction))


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, i]].astype(float) for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


@pytest.mark.parametrize("direction", [(1, 0, 0, 0, 1, 0, 0, 0, 1),
                                       (-1, 0, 0, 0, -1, 0, 0, 0, 1),
                                       (0, 0, -1, -1, 0, 0, 0, 1, 0)])
def test_surface_encloses_the_mask_volume_outwards_in_mm(direction):
    ball = _ball(direction)
    vertices, faces = surface_mesh(ball.array > 0, ball)
    volume_mm3 = _signed_volume(vertices, faces)
    assert volume_mm3 == pytest.approx(4 / 3 * np.pi * 15.0 ** 3, rel=0.05)  # positive: outward
    centre = ball.index_to_physical(np.array([14.0, 19.0, 20.0]))
    assert np.allclose(vertices.mean(axis=0), centre, atol=1.0)


def test_empty_mask_has_no_surface():
    ball = _ball((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert surface_mesh(np.zeros(ball.shape, bool), ball) is None


def test_stl_and_ply_read_back(tmp_path):
    ball = _ball((1, 0, 0, 0, 1, 0, 0, 0, 1))
    vertices, faces = surface_mesh(ball.array > 0, ball)
    stl = write_mesh(vertices, faces, tmp_path / "ball.stl").read_bytes()
    count = int(np.frombuffer(stl[80:84], "<u4")[0])
    assert count == len(faces) and len(stl) == 84 + 50 * count
    corners = np.frombuffer(stl[84:], dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)),
                                             ("a", "<u2")])["v"]
    assert np.allclose(corners, vertices[faces])
    ply = write_mesh(vertices, faces, tmp_path / "ball.ply").read_bytes()
    header, body = ply.split(b"end_header\n", 1)
    assert f"element vertex {len(vertices)}".encode() in header
    assert np.allclose(np.frombuffer(body[: 12 * len(vertices)], "<f4").reshape(-1, 3), vertices)


def test_a_mask_with_a_large_box_is_meshed_coarser_and_still_in_place(monkeypatch):
    """Regression: a 2000-slice CT's liver made a 303 MB STL. A box over MAX_MESH_VOXELS is
    sampled every n-th voxel: fewer faces, the same volume and place."""
    import livseg.viz.mesh as mesh

    ball = _ball((1, 0, 0, 0, 1, 0, 0, 0, 1))
    fine_vertices, fine_faces = surface_mesh(ball.array > 0, ball)
    monkeypatch.setattr(mesh, "MAX_MESH_VOXELS", 4000)
    vertices, faces = surface_mesh(ball.array > 0, ball)
    assert len(faces) < len(fine_faces) / 3
    assert _signed_volume(vertices, faces) == pytest.approx(4 / 3 * np.pi * 15.0 ** 3, rel=0.1)
    assert np.allclose(vertices.mean(axis=0), fine_vertices.mean(axis=0), atol=1.5)
