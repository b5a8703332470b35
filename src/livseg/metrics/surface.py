"""Surface distances in millimetres: ASSD, HD95 and maximum surface distance (MSD).

Surface voxels are mask voxels with a face neighbour outside the mask (the array border
counts as outside). Distances are Euclidean between voxel centres, with the voxel spacing.
Both masks empty: every distance is 0. Exactly one mask empty: distances are undefined
(None), since there is no surface to measure to.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

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


def directed_surface_distances(from_mask: np.ndarray, to_mask: np.ndarray,
                               spacing_zyx: tuple[float, ...]) -> np.ndarray:
    """Distance (mm) from each surface voxel of ``from_mask`` to the surface of ``to_mask``."""
    to_surface = surface_voxels(to_mask)
    distance_map = ndimage.distance_transform_edt(~to_surface, sampling=spacing_zyx)
    return distance_map[surface_voxels(from_mask)]


def surface_distances(prediction: np.ndarray, reference: np.ndarray,
                      spacing_zyx: tuple[float, ...]) -> SurfaceDistances:
    """ASSD (both directions pooled), HD95 (max of the directed 95th percentiles), MSD."""
    pred, ref = np.asarray(prediction, bool), np.asarray(reference, bool)
    if not pred.any() and not ref.any():
        return SurfaceDistances(0.0, 0.0, 0.0)
    if not pred.any() or not ref.any():
        return SurfaceDistances(None, None, None)
    # Distances are exact inside a box holding every surface voxel plus one voxel of margin
    # (so the box's edge adds no surface that the whole array does not have).
    box = mask_bbox(pred | ref, spacing_zyx=None, margin_mm=1.0)
    pred, ref = crop(pred, box), crop(ref, box)
    pred_to_ref = directed_surface_distances(pred, ref, spacing_zyx)
    ref_to_pred = directed_surface_distances(ref, pred, spacing_zyx)
    pooled = np.concatenate([pred_to_ref, ref_to_pred])
    hd95 = max(np.percentile(pred_to_ref, 95), np.percentile(ref_to_pred, 95))
    return SurfaceDistances(float(pooled.mean()), float(hd95), float(pooled.max()))
