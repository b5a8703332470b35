"""Liver and tumour surfaces: marching cubes (scikit-image) in patient millimetres, written
as binary STL or PLY (both small fixed formats, written with numpy)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from livseg.io.text import atomic_output
from livseg.io.volume import Volume
from livseg.preprocess.crop import mask_bbox

MESH_FORMATS = ("stl", "ply")
#: Voxels of the mask's box that marching cubes visits one by one; a larger box is sampled
#: every 2nd (3rd, ...) voxel, so that a mesh stays a few hundred MB at most (a liver's box
#: at 0.7 mm holds about 2^25; a 2000-slice CT made a 303 MB STL).
MAX_MESH_VOXELS = 2**25


def surface_mesh(mask: np.ndarray, grid: Volume) -> tuple[np.ndarray, np.ndarray] | None:
    """(vertices (V, 3) in patient mm (x, y, z), faces (F, 3)) of a bool (z, y, x) mask on
    ``grid``'s geometry; None for an empty mask. Only the mask's bounding box is meshed."""
    from skimage.measure import marching_cubes

    box = mask_bbox(mask)
    if box is None:
        return None
    start = np.array(box.start, float)
    padded = np.pad(mask[box.slices], 1).astype(np.float32)  # closed surfaces at the box's edges
    step = max(1, int(np.ceil((padded.size / MAX_MESH_VOXELS) ** (1 / 3))))
    vertices_zyx, faces, _, _ = marching_cubes(padded, level=0.5, step_size=step)
    vertices = grid.index_to_physical(vertices_zyx - 1.0 + start)
    if _signed_volume(vertices, faces) < 0:  # the index -> patient map may mirror: outward
        faces = faces[:, ::-1]
    return vertices.astype(np.float32), faces.astype(np.int32)


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by a closed mesh; positive when its faces wind outwards."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def write_mesh(vertices: np.ndarray, faces: np.ndarray, path: Path) -> Path:
    """Write a triangle mesh as binary STL or binary little-endian PLY (by suffix)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in MESH_FORMATS:
        raise ValueError(f"mesh format {suffix!r}; use one of {MESH_FORMATS}")
    with atomic_output(path) as temporary, open(temporary, "wb") as stream:
        if suffix == "stl":
            triangles = vertices[faces]
            normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
            normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
            record = np.zeros(len(faces), dtype=[("normal", "<f4", 3), ("corners", "<f4", (3, 3)),
                                                 ("attribute", "<u2")])
            record["normal"], record["corners"] = normals, triangles
            stream.write(b"livseg surface, patient mm (LPS)".ljust(80, b" "))
            stream.write(np.uint32(len(faces)).tobytes())
            stream.write(record.tobytes())
        else:
            header = ("ply\nformat binary_little_endian 1.0\ncomment livseg, patient mm (LPS)\n"
                      f"element vertex {len(vertices)}\nproperty float x\nproperty float y\n"
                      f"property float z\nelement face {len(faces)}\n"
                      "property list uchar int vertex_indices\nend_header\n")
            stream.write(header.encode("ascii"))
            stream.write(vertices.astype("<f4").tobytes())
            face_records = np.zeros(len(faces), dtype=[("n", "u1"), ("v", "<i4", 3)])
            face_records["n"], face_records["v"] = 3, faces
            stream.write(face_records.tobytes())
    return Path(path)
