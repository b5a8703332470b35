"""What livseg agrees to read: the sizes, spacings and data files a header may declare.

Every reader checks the sizes a header declares against :class:`ReadLimits` *before* any
voxel is decoded, so a small file that declares a huge image (an image bomb) costs
nothing; the grid read is checked again afterwards (spacing, extent, finite geometry).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from livseg.errors import LivsegInputError

#: Rows and columns of one slice; CT is 512, rarely 1024 (2048 for some detectors).
MAX_IN_PLANE = 4096
#: Voxels of a whole volume: 2^28 is 1024 slices of 512x512 (LiTS's longest CT has 987), which
#: predict segments in bounded memory; a longer one is refused from its header (a 7 MB
#: .nii.gz of 2000 slices took 4.3 GB), unless the budget is raised (--max-voxels).
MAX_VOXELS = 2**28
#: The finest voxel livseg reads: no clinical CT resolves below a tenth of a millimetre.
MIN_SPACING_MM = 0.05
MAX_IN_PLANE_SPACING_MM = 50.0
MAX_SLICE_SPACING_MM = 100.0
#: Length of the volume along any axis: larger than any patient.
MAX_EXTENT_MM = 2500.0


@dataclass(frozen=True)
class ReadLimits:
    """What a reader accepts. ``external_data``: voxel data in a separate file is accepted
    when it lies beside its header, in the same folder (True, the command line), or never
    (False, uploads to the web app)."""

    max_voxels: int = MAX_VOXELS
    max_in_plane: int = MAX_IN_PLANE
    external_data: bool = True

    def __post_init__(self) -> None:
        if self.max_voxels < 1 or self.max_in_plane < 1:
            raise ValueError("read limits must be positive")


DEFAULT_LIMITS = ReadLimits()
UPLOAD_LIMITS = ReadLimits(external_data=False)


def check_declared_size(size_xyz: Sequence[int], path: str | Path, limits: ReadLimits,
                        components: int = 1) -> None:
    """Refuse a declared image size (x, y, z, ... in index order) beyond ``limits``."""
    size = [int(n) for n in size_xyz]
    if not size or min(size) < 1:
        raise LivsegInputError(f"declares an image of size {tuple(size)}; every axis needs at "
                               "least one voxel", path)
    if max(size[:2]) > limits.max_in_plane:
        raise LivsegInputError(f"declares {size[0]}x{size[1]} voxels per slice, more than the "
                               f"{limits.max_in_plane}x{limits.max_in_plane} livseg reads",
                               path)
    voxels = math.prod(size) * max(int(components), 1)
    if voxels > limits.max_voxels:
        raise LivsegInputError(f"declares {voxels:,} voxels, more than the budget of "
                               f"{limits.max_voxels:,} (raise it with --max-voxels)", path)


def check_spacing(spacing_xyz: Sequence[float], path: str | Path | None = None) -> None:
    """Refuse a voxel size that no CT has: not finite, <= 0, under 0.05 mm, over 50 mm
    in-plane or over 100 mm between slices."""
    spacing = [float(s) for s in spacing_xyz]
    shown = "x".join(f"{s:g}" for s in spacing)
    if not all(math.isfinite(s) and s > 0 for s in spacing):
        raise LivsegInputError(f"has a voxel size of {shown} mm; each must be a positive "
                               "number", path)
    if min(spacing) < MIN_SPACING_MM:
        raise LivsegInputError(f"has a voxel size of {shown} mm; livseg reads voxels of at "
                               f"least {MIN_SPACING_MM:g} mm", path)
    if max(spacing[:2]) > MAX_IN_PLANE_SPACING_MM or spacing[2] > MAX_SLICE_SPACING_MM:
        raise LivsegInputError(f"has a voxel size of {shown} mm; livseg reads at most "
                               f"{MAX_IN_PLANE_SPACING_MM:g} mm in-plane and "
                               f"{MAX_SLICE_SPACING_MM:g} mm between slices", path)


def check_grid(shape_zyx: Sequence[int], spacing_xyz: Sequence[float],
               origin_xyz: Sequence[float], direction: Sequence[float],
               path: str | Path | None = None) -> None:
    """The checks of a grid once read: spacing, finite origin and direction, extent."""
    check_spacing(spacing_xyz, path)
    if not all(math.isfinite(float(v)) for v in (*origin_xyz, *direction)):
        raise LivsegInputError("has an origin or direction that is not a finite number", path)
    extents = [n * s for n, s in zip(shape_zyx[::-1], spacing_xyz, strict=True)]
    if max(extents) > MAX_EXTENT_MM:
        shown = " x ".join(f"{e:.0f}" for e in extents)
        raise LivsegInputError(f"spans {shown} mm, more than the {MAX_EXTENT_MM:g} mm of any "
                               "body", path)


def check_data_file(header: Path, data_file: str, limits: ReadLimits) -> None:
    """A header naming its voxel data in another file: refused in uploads; elsewhere only a
    plain file name in the header's own folder is followed (never a path to another file
    of the machine, a list or a pattern of files)."""
    if not limits.external_data:
        raise LivsegInputError(f"keeps its voxel data in another file ({data_file!r}); "
                               "upload a file that holds its own data (.nii.gz, .nrrd, .mha)",
                               header)
    name = data_file.strip()
    if name != PurePath(name).name or name in ("", ".", "..") or " " in name \
            or name.upper() == "LIST":
        raise LivsegInputError(f"names its voxel data {data_file!r}; livseg follows only a "
                               "single file beside the header", header)
    target = header.parent / name
    folder = header.parent.resolve()
    if not target.is_file() or target.resolve().parent != folder:
        raise LivsegInputError(f"names its voxel data {name!r}, which is not a file in the "
                               "header's folder", header)
