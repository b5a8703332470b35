"""3D clean-up of the stage outputs; every function returns a new mask (inputs untouched).

Sizes are in millimetres and mm³, converted with the voxel spacing, never in voxels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from livseg.infer.lesions import lesion_contrast
from livseg.preprocess import crop, mask_bbox, uncrop

#: Slices filled at a time (``fill_holes``): its labelling never spans the whole box.
FILL_SLICES = 32


def component_labels(mask: np.ndarray, structure: np.ndarray) -> tuple[np.ndarray, int]:
    """``ndimage.label`` into the narrowest labels that suffice: 8-bit (a quarter of the
    default 32 bits: on a 512x512x1000 liver box 0.75 GB less), else 16-bit, else 32-bit.
    A mask of too many components for a width is labelled again at the next one."""
    for dtype in (np.uint8, np.uint16):
        try:
            labels = np.empty(mask.shape, dtype)
            count = ndimage.label(mask, structure=structure, output=labels)
            return labels, int(count)
        except RuntimeError:  # more components than the type holds
            del labels
    labels, count = ndimage.label(mask, structure=structure)
    return labels, int(count)


def label_sizes(labels: np.ndarray, count: int) -> np.ndarray:
    """(count + 1,) voxels of each label (label 0 first), counted ``FILL_SLICES`` slices at
    a time: ``np.bincount`` widens its input to 64 bits, 8 times a uint8 label map (on a
    512x512x1000 liver box, 0.6 GB at once)."""
    sizes = np.zeros(count + 1, np.int64)
    for first in range(0, len(labels), FILL_SLICES):
        sizes += np.bincount(labels[first:first + FILL_SLICES].ravel(), minlength=count + 1)
    return sizes


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a bool mask (empty stays empty)."""
    labels, count = component_labels(mask, np.ones((3,) * mask.ndim, bool))
    if count <= 1:
        return labels > 0
    sizes = label_sizes(labels, count)
    sizes[0] = 0
    largest = np.equal(labels, int(np.argmax(sizes)))
    del labels
    return largest


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Holes filled in 3D, then in each axial slice (a vessel that opens at the top or
    bottom of the liver is no 3D hole, but it is one in its slice).

    One pass per slice gives both: each axial section of a 3D hole (background that
    reaches no face of the array) is background enclosed in its slice, since a path in
    the slice to the slice's edge would reach a face of the array. So the per-slice fill
    already holds every 3D hole, and filling those first changes nothing (the test holds
    it to scipy's 3D fill followed by the per-slice one); one labelling instead of two."""
    in_slice = np.zeros((3, 3, 3), bool)
    in_slice[1] = ndimage.generate_binary_structure(2, 1)
    out = np.empty(mask.shape, bool)
    for first in range(0, len(mask), FILL_SLICES):  # slices are apart: the same, in chunks
        out[first:first + FILL_SLICES] = _filled(mask[first:first + FILL_SLICES], in_slice,
                                                 (1, 2))
    return out


def _filled(mask: np.ndarray, structure: np.ndarray, open_axes: tuple[int, ...]) -> np.ndarray:
    """``mask`` with every background region that does not reach the array's faces across
    ``open_axes`` added: what ``binary_fill_holes`` gives with ``structure`` (face-connected
    background), by one labelling instead of repeated dilations."""
    background, count = component_labels(~mask, structure)
    if count == 0:
        return mask.copy()
    faces = [np.take(background, index, axis=axis) for axis in open_axes for index in (0, -1)]
    outside = np.zeros(count + 1, bool)
    outside[np.concatenate([face.ravel() for face in faces])] = True
    outside[0] = True  # label 0: the mask itself
    return mask | ~outside[background]


def clean_liver(liver: np.ndarray) -> np.ndarray:
    """The liver as one solid organ: its largest component with the holes filled."""
    box = mask_bbox(liver, None, 1)  # work on the mask's box only: same result, less time
    if box is None:
        return np.zeros(liver.shape, bool)
    organ = largest_component(liver[box.slices])  # a view: no copy of a huge mask
    inner = mask_bbox(organ, None, 1)
    solid = fill_holes(organ[inner.slices])  # a view again
    del organ
    out = np.zeros(liver.shape, bool)
    out[box.slices][inner.slices] = solid  # views of views: written into ``out`` itself
    return out


def cut_bridges(mask: np.ndarray, spacing_zyx: tuple[float, ...],
                radius_mm: float) -> np.ndarray:
    """The organ's main body with what hangs on it by a bridge thinner than ``2 radius_mm``
    cut off (a loop of bowel touching the liver, the heart above it).

    The mask is eroded by a ball of ``radius_mm`` (in mm, by a distance transform); the
    largest eroded piece is the body; every mask voxel within ``2 radius_mm`` (and a voxel)
    of it is kept, which gives back the body's own edges and corners, and drops the pieces
    that only a thin bridge joined. A mask too thin to survive the erosion is returned as
    it is. Works on the mask's box."""
    box = mask_bbox(mask, None, 1)
    if box is None or radius_mm <= 0:
        return mask.copy()
    inner = np.pad(crop(mask, box), 1)
    core = ndimage.distance_transform_edt(inner, sampling=spacing_zyx) > radius_mm
    if not core.any():
        return mask.copy()
    body = largest_component(core)
    reach = 2 * radius_mm + max(spacing_zyx)
    kept = inner & (ndimage.distance_transform_edt(~body, sampling=spacing_zyx) <= reach)
    out = np.zeros(mask.shape, bool)
    out[box.slices] = kept[1:-1, 1:-1, 1:-1]
    return out


def within_mm(points: np.ndarray, mask: np.ndarray, spacing_zyx: tuple[float, ...],
              radius_mm: float) -> np.ndarray:
    """The voxels of ``points`` whose centres lie within ``radius_mm`` (Euclidean, in mm) of
    a voxel of ``mask``: the same as intersecting with ``mask`` grown by a Euclidean
    distance transform, but measured only where it matters. Points inside the mask are
    kept as they are; for the others the distance to the mask's nearest surface voxel (the
    nearest mask voxel of an outside point always lies on the surface) comes from a k-d tree."""
    from scipy.spatial import cKDTree  # here: importing scipy.spatial costs 0.15 s

    kept = points & mask
    outside = points & ~mask
    box = mask_bbox(outside, spacing_zyx, radius_mm)  # the mask voxels that can be in reach
    if box is None:
        return kept
    near = crop(mask, box)
    surface = near & ~ndimage.binary_erosion(near)
    if not surface.any():
        return kept
    scale = np.asarray(spacing_zyx, float)
    tree = cKDTree(np.argwhere(surface) * scale)
    candidates = np.argwhere(crop(outside, box))
    distance, _ = tree.query(candidates * scale, distance_upper_bound=radius_mm * (1 + 1e-9))
    reached = candidates[np.isfinite(distance)] + np.asarray(box.start)
    kept[tuple(reached.T)] = True
    return kept


def clean_tumours(tumour: np.ndarray, liver: np.ndarray, spacing_zyx: tuple[float, ...],
                  liver_margin_mm: float = 3.0, min_lesion_mm3: float = 20.0,
                  min_share_near_liver: float = 0.5) -> np.ndarray:
    """The 26-connected lesions of ``tumour`` that lie mostly by the liver, each kept whole:
    a lesion stays when at least ``min_share_near_liver`` of its voxels lie inside the liver
    grown by ``liver_margin_mm`` and it holds at least ``min_lesion_mm3``. A tumour at the
    liver's edge, whose dark part the liver stage left outside the liver (the reference
    liver includes its tumours), so stays one lesion instead of being cut at the margin.
    Works on the tumours' box grown by the margin (all the liver in reach): the same
    result, a fraction of the time."""
    box = mask_bbox(tumour, spacing_zyx, liver_margin_mm)
    if box is None:
        return np.zeros(tumour.shape, bool)
    lesions = tumour[box.slices]
    labels, count = component_labels(lesions, np.ones((3, 3, 3), bool))
    if not count:
        return np.zeros(tumour.shape, bool)
    near = within_mm(lesions, liver[box.slices], spacing_zyx, liver_margin_mm)
    sizes = label_sizes(labels, count)[1:]
    near_sizes = np.bincount(labels[near], minlength=count + 1)[1:]
    kept = np.flatnonzero((near_sizes >= min_share_near_liver * sizes)
                          & (sizes * float(np.prod(spacing_zyx)) >= min_lesion_mm3)) + 1
    return uncrop(np.isin(labels, kept), box, tumour.shape, False)


@dataclass(frozen=True)
class Candidate:
    """One lesion the tumour stage proposes, with what the lesion rules look at."""

    voxels: np.ndarray  # (n, 3) indices
    volume_mm3: float
    mean_probability: float  # the tumour stage's mean probability over the lesion
    contrast_hu: float | None  # mean HU minus the surrounding liver's (None: no liver near)


def lesion_candidates(tumour: np.ndarray, probability: np.ndarray, hu: np.ndarray | None,
                      liver: np.ndarray, spacing_zyx: tuple[float, ...]) -> list[Candidate]:
    """The 26-connected lesions of ``tumour`` with their figures; ``probability`` is the
    stage's output scaled to uint8 (255 = 1) on the same grid, ``hu`` the CT (None: no
    contrast is measured, the costly part)."""
    labels, count = component_labels(tumour, np.ones((3, 3, 3), bool))
    liver_only = liver & ~tumour
    voxel_mm3 = float(np.prod(spacing_zyx))
    found = []
    for index, region in enumerate(ndimage.find_objects(labels), start=1):
        if region is None:
            continue
        voxels = np.argwhere(labels[region] == index) + [r.start for r in region]
        where = tuple(voxels.T)
        contrast = (None if hu is None else
                    lesion_contrast(hu, liver_only, voxels, spacing_zyx).contrast_hu)
        found.append(Candidate(voxels, len(voxels) * voxel_mm3,
                               float(probability[where].mean()) / 255.0, contrast))
    return found


def keep_lesions(shape: tuple[int, ...], candidates: list[Candidate],
                 min_mean_probability: float = 0.0,
                 max_contrast_hu: float | None = None) -> np.ndarray:
    """The mask of the candidates whose mean probability reaches ``min_mean_probability``
    and that are not brighter than their liver by more than ``max_contrast_hu``."""
    mask = np.zeros(shape, bool)
    for candidate in candidates:
        if candidate.mean_probability < min_mean_probability:
            continue
        if (max_contrast_hu is not None and candidate.contrast_hu is not None
                and candidate.contrast_hu > max_contrast_hu):
            continue
        mask[tuple(candidate.voxels.T)] = True
    return mask


def grow_lesions(kept: np.ndarray, probability: np.ndarray, low: float) -> np.ndarray:
    """Hysteresis: the ``kept`` lesions extended over every voxel 26-connected to them where
    the probability (uint8, 255 = 1) exceeds ``low``. The lesion rules decide which lesions
    exist (seeded at the higher threshold); this decides how far each reaches, so that a
    lesion the stage is sure of is not cut at its fainter rim. A region of ``probability >
    low`` that holds no kept lesion stays out."""
    region = (probability > 255 * low) | kept
    box = mask_bbox(region)
    if box is None or not kept.any():
        return kept.copy()
    labels, count = component_labels(region[box.slices], np.ones((3,) * kept.ndim, bool))
    seeds = np.zeros(count + 1, bool)
    seeds[np.unique(labels[kept[box.slices]])] = True
    seeds[0] = False
    return uncrop(seeds[labels], box, kept.shape, False)


def label_map(liver: np.ndarray, tumour: np.ndarray) -> np.ndarray:
    """LiTS labels: 0 background, 1 liver, 2 tumour (tumour wins where both)."""
    out = liver.astype(np.uint8)
    out[tumour] = 2
    return out
