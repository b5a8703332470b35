"""The Volume: a voxel array together with its physical geometry."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

IDENTITY_DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D image and where it lies in the patient.

    ``array`` is indexed ``[z, y, x]`` (slice, row, column). The geometry follows the
    ITK/DICOM convention in LPS patient coordinates: ``spacing`` and ``origin`` are in
    (x, y, z) order and millimetres; ``direction`` is the 3x3 matrix, row-major, whose
    columns are the directions of the x, y and z index axes. ``origin`` is the centre of
    voxel ``[0, 0, 0]``.
    """

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = IDENTITY_DIRECTION
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"Volume array must be 3D (z, y, x), got shape {self.array.shape}")
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        object.__setattr__(self, "origin", tuple(float(o) for o in self.origin))
        object.__setattr__(self, "direction", tuple(float(d) for d in self.direction))
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise ValueError("spacing and origin need 3 values, direction 9")
        if min(self.spacing) <= 0:
            raise ValueError(f"spacing must be positive, got {self.spacing}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        """Voxel size in array order (z, y, x), for array operations such as distance maps."""
        return self.spacing[::-1]  # type: ignore[return-value]

    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def voxel_volume_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0

    def with_array(self, array: np.ndarray) -> Volume:
        """The same geometry around another array of the same shape (e.g. a mask)."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} differs from the volume's {self.array.shape}")
        return replace(self, array=array)

    def cropped(self, box) -> Volume:
        """The part inside ``box`` (a ``livseg.preprocess.BoundingBox`` in array indices) on
        its own grid: the same voxels at the same places (the origin moves to the box's
        first voxel); the array is a view, not a copy. ``livseg.preprocess.uncrop`` puts an
        array of the box back in the whole grid."""
        origin = self.index_to_physical(np.asarray(box.start, float))
        return replace(self, array=self.array[box.slices], origin=tuple(origin))

    def index_to_physical(self, index_zyx: np.ndarray) -> np.ndarray:
        """Map (..., 3) continuous indices in (z, y, x) order to LPS millimetres (x, y, z)."""
        ijk = np.asarray(index_zyx, dtype=float)[..., ::-1]
        return np.asarray(self.origin) + (ijk * np.asarray(self.spacing)) @ self.direction_matrix.T

    def same_grid(self, other: Volume, tolerance: float = 1e-4) -> bool:
        """True when both volumes have the same shape, spacing, origin and direction."""
        return (
            self.shape == other.shape
            and np.allclose(self.spacing, other.spacing, rtol=0, atol=tolerance)
            and np.allclose(self.origin, other.origin, rtol=0, atol=tolerance * 10)
            and np.allclose(self.direction, other.direction, rtol=0, atol=tolerance)
        )

    def describe_grid(self) -> str:
        sp = "x".join(f"{s:.3g}" for s in self.spacing)
        return f"shape {self.shape[::-1]} (x, y, z), spacing {sp} mm"
