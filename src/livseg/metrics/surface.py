"""Surface distances in millimetres: ASSD, HD95 and maximum surface distance (MSD).

Surface voxels are mask voxels with a face neighbour outside the mask (the array border
counts as outside). Distances are Euclidean between voxel centres, with the voxel spacing.
Both masks empty: every distance is 0. Exactly one mask empty: distances are undefined
(None), since there is no surface to measure to.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from livseg.preprocess.crop import crop, mask_bbox


@dataclass(frozen=True)
class SurfaceDistances:
    assd_mm: float | None
    hd95_mm: float | None
    msd_mm: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"assd_mm": self.assd_mm, "hd95_mm": self.hd95_mm, "msd_mm": self.msd_mm}


def surface_voxels(mask: np.ndarray) -> np.ndarray:
    """Mask voxels with at least one face neighbour outside the mask."""
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def surface_points_mm(mask: np.ndarray, spacing_zyx: tuple[float, ...]) -> np.ndarray:
    """The surface voxels' centres in millimetres, one row (z, y, x) per voxel."""
    return np.argwhere(surface_voxels(mask)) * np.asarray(spacing_zyx, float)


def directed_surface_distances(from_points: np.ndarray, to_points: np.ndarray,
                               workers: int = 1) -> np.ndarray:
    """Distance (mm) from each point of one surface to the nearest point of the other.

    An exact nearest-neighbour query (scipy's k-d tree) over the surface points only. On
    ircad07's liver (512x512x151) the whole measure took 1.1 s instead of 6.6 s with a
    Euclidean distance transform of the box, with the same ASSD, HD95 and MSD. ``workers``:
    threads of the query (-1: every core; 1 where the caller runs cases in parallel)."""
    return cKDTree(to_points).query(from_points, workers=workers)[0]


def surface_distances(prediction: np.ndarray, reference: np.ndarray,
                      spacing_zyx: tuple[float, ...], workers: int = 1,
                      max_points: int | None = None) -> SurfaceDistances:
    """ASSD (both directions pooled), HD95 (max of the directed 95th percentiles), MSD;
    ``workers`` as in :func:`directed_surface_distances`. With ``max_points``, each
    direction is measured from at most that many points of its surface, evenly spread
    through it (every k-th), to the whole other surface: an estimate of the same figures
    (the MSD then a lower bound) at a fraction of the cost; None: every point, exact."""
    pred, ref = np.asarray(prediction, bool), np.asarray(reference, bool)
    if not pred.any() and not ref.any():
        return SurfaceDistances(0.0, 0.0, 0.0)
    if not pred.any() or not ref.any():
        return SurfaceDistances(None, None, None)
    # A box holding every surface voxel plus one voxel of margin (so the box's edge adds no
    # surface that the whole array does not have) keeps the erosions small.
    box = mask_bbox(pred | ref, spacing_zyx=None, margin_mm=1.0)
    pred, ref = crop(pred, box), crop(ref, box)
    pred_points = surface_points_mm(pred, spacing_zyx)
    ref_points = surface_points_mm(ref, spacing_zyx)
    pred_to_ref = directed_surface_distances(_spread(pred_points, max_points), ref_points,
                                             workers)
    ref_to_pred = directed_surface_distances(_spread(ref_points, max_points), pred_points,
                                             workers)
    # pooled over every surface point: each direction's mean weighs as its whole surface
    counts = np.array([len(pred_points), len(ref_points)], float)
    assd = (counts @ [pred_to_ref.mean(), ref_to_pred.mean()]) / counts.sum()
    hd95 = max(np.percentile(pred_to_ref, 95), np.percentile(ref_to_pred, 95))
    return SurfaceDistances(float(assd), float(hd95),
                            float(max(pred_to_ref.max(), ref_to_pred.max())))


def _spread(points: np.ndarray, most: int | None) -> np.ndarray:
    """Every k-th of ``points`` (in array order, so spread over the whole surface), at most
    ``most`` of them; all of them when ``most`` is None."""
    if most is None or len(points) <= most:
        return points
    return points[::math.ceil(len(points) / most)]
