"""report.json: liver and tumour volumes, and each lesion's size and place (DESIGN.md).

Sizes come from the label map and its spacing; lesions are 26-connected tumour components,
measured on the canonical axial array so that "axial" means the patient's axial plane
whatever the file's orientation; positions are given in the input's own coordinates.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from livseg._version import __version__
from livseg.infer.lesions import SHELL_MM, lesion_contrast
from livseg.infer.postprocess import component_labels
from livseg.io.volume import Volume
from livseg.metrics.lesion_size import longest_axial_diameter
from livseg.preprocess import from_canonical, mask_bbox, to_canonical

REPORT_FORMAT = "livseg-report"


#: A lesion is hypo- or hyperdense when its mean differs from the mean of the liver around
#: it (``livseg.infer.lesions.SHELL_MM``) by more than this (HU); isodense otherwise.
DENSITY_HU = 10.0


def build_report(labels: Volume, *, input_path: str, models: list[dict],
                 seconds: dict[str, float], notes: list[str] | None = None,
                 ct: Volume | None = None, settings: dict | None = None,
                 lesions: list[dict] | None = None) -> dict:
    """The report of one segmentation ``labels`` (0/1/2 on the input's grid); with the
    ``ct`` it came from (same grid), each lesion's HU and its contrast to the liver;
    ``settings``: the cascade's settings (lesion rules, TTA) that made it; ``lesions``:
    ``find_lesions(labels, ct)``'s lesions when the caller has them already."""
    voxel_ml = labels.voxel_volume_ml
    liver_ml = float(np.count_nonzero(labels.array >= 1) * voxel_ml)
    tumour_ml = float(np.count_nonzero(labels.array == 2) * voxel_ml)
    return {
        "format": REPORT_FORMAT, "livseg_version": __version__,
        "input": {"path": input_path, "shape_zyx": list(labels.shape),
                  "spacing_xyz_mm": [round(s, 6) for s in labels.spacing],
                  "origin_xyz_mm": [round(o, 4) for o in labels.origin],
                  "direction": [round(d, 6) for d in labels.direction],
                  "notes": list(notes or [])},
        "liver_volume_ml": round(liver_ml, 3),
        "tumour_volume_ml": round(tumour_ml, 3),
        "tumour_burden_percent": round(100 * tumour_ml / liver_ml, 3) if liver_ml else 0.0,
        "lesion_count": 0,
        "lesions": [],
        "models": models,
        "settings": dict(settings or {}),
        "seconds": seconds,
    } | _lesions(labels, ct, lesions)


def _lesions(labels: Volume, ct: Volume | None = None,
             lesions: list[dict] | None = None) -> dict:
    if lesions is None:
        lesions, _ = find_lesions(labels, ct)
    return {"lesion_count": len(lesions), "lesions": lesions}


def find_lesions(labels: Volume, ct: Volume | None = None) -> tuple[list[dict], np.ndarray]:
    """Each lesion of ``labels`` (26-connected tumour components) measured as in the
    report, largest first, with its ``id`` (1, 2, ...); and the lesions' map on the input's
    grid (0 none, else the id; the smallest unsigned type that holds the ids: uint8 up to
    255 lesions), for what follows a lesion further (``livseg compare``).

    Works on the tumours' box grown by the reach of the liver around them
    (``SHELL_MM``): the same lesions and figures, and no array of the whole grid but the
    map (on a 512x512x1000 CT an int32 map alone is 1 GB)."""
    canonical, reorientation = to_canonical(labels, copy=False)
    spacing = canonical.spacing_zyx
    box = mask_bbox(canonical.array == 2, spacing, SHELL_MM[1] + max(spacing))
    if box is None:
        return [], np.zeros(labels.shape, np.uint8)
    region = canonical.array[box.slices]
    components, count = component_labels(region == 2, np.ones((3, 3, 3), bool))
    hu = None if ct is None else to_canonical(ct, copy=False)[0].array[box.slices]
    liver_only = None if hu is None else region == 1
    axis, flipped = reorientation.axes[0], reorientation.flipped[0]
    depth = canonical.array.shape[0]
    lesions = []
    for index, where in enumerate(ndimage.find_objects(components), start=1):
        mask = components[where] == index
        voxels = np.argwhere(mask) + [s.start for s in where]  # in the box
        z_range = (int(voxels[:, 0].min()) + box.start[0],
                   int(voxels[:, 0].max()) + box.start[0])
        if flipped:
            z_range = (depth - 1 - z_range[1], depth - 1 - z_range[0])
        lesions.append({
            "component": index,
            "volume_ml": round(len(voxels) * canonical.voxel_volume_ml, 4),
            "longest_axial_diameter_mm": round(longest_axial_diameter(mask, spacing[1:]), 2),
            "centroid_mm": [round(float(c), 2) for c in canonical.index_to_physical(
                voxels.mean(axis=0) + box.start)],
            "slices": list(z_range),
            "slice_axis": int(axis),
        } | ({} if hu is None else _density(hu, liver_only, voxels, spacing)))
    lesions.sort(key=lambda lesion: (-lesion["volume_ml"], lesion["component"]))
    renumber = np.zeros(count + 1, np.min_scalar_type(max(count, 1)))
    for number, lesion in enumerate(lesions, start=1):
        renumber[lesion.pop("component")] = number
        lesion["id"] = number
    lesion_map = np.zeros(canonical.array.shape, renumber.dtype)
    lesion_map[box.slices] = renumber[components]
    return ([{"id": lesion.pop("id"), **lesion} for lesion in lesions],
            from_canonical(lesion_map, labels, reorientation).array)


def _density(hu: np.ndarray, liver_only: np.ndarray, voxels: np.ndarray,
             spacing_zyx: tuple[float, ...]) -> dict:
    """The lesion's mean HU and spread, the mean HU of the liver around it (``liver_only``: label 1,
    tumour excluded), their difference and what it makes the lesion (``DENSITY_HU``)."""
    found = lesion_contrast(hu, liver_only, voxels, spacing_zyx)
    contrast = found.contrast_hu
    return {"mean_hu": round(found.mean_hu, 1),
            "hu_sd": round(found.sd_hu, 1),
            "hu_p10_p90": [round(found.p10_hu, 1), round(found.p90_hu, 1)],
            "surrounding_liver_hu": None if contrast is None
            else round(found.surrounding_liver_hu, 1),
            "contrast_hu": None if contrast is None else round(contrast, 1),
            "density": None if contrast is None else "hypodense" if contrast < -DENSITY_HU
            else "hyperdense" if contrast > DENSITY_HU else "isodense"}
