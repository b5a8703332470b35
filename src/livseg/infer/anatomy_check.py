"""Does the canonical volume look like an abdomen the right way round?

The liver stage was trained on slices in the canonical orientation only, so it relies on
the orientation the file's header describes. A header that does not describe its image
(an identity affine on a flipped array, a mirrored export) would give a poor liver. Two
cheap anatomical checks catch the usual cases; the cascade then segments the image the
right way round and says so in the report:

- the spine lies posterior to the body's centre (canonical rows run anterior -> posterior);
- the liver found lies on the patient's right (canonical columns run right -> left). So does the
check of the liver's size: a liver under 300 ml or over 4,000 ml, or one found in several
large pieces, is most often a CT the networks do not suit (another body part, a clipped or
mis-scaled image), and the report says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from livseg.preprocess import mask_bbox

BODY_HU = -300.0  # soft tissue and denser: the body, not air or the outside
BONE_HU = 300.0
#: Bone voxels must lie in the middle third of the body's width (the spine, not ribs).
CENTRAL_FRACTION = 1 / 3
MIN_BONE_VOXELS = 200
#: The centroids must differ by this fraction of the body's extent before a warning.
MARGIN_FRACTION = 0.05
#: Plausible adult liver volumes (ml): livers of 0.6-3 l are the rule, 4 l is hepatomegaly.
LIVER_ML = (300.0, 4000.0)
#: A piece of the liver stage's output this large, besides the largest, is a second organ.
LARGE_PIECE_ML = 100.0


@dataclass(frozen=True)
class BodyFrame:
    """Where the body lies in a canonical (z, y, x) volume, on every ``step``-th slice."""

    step: int
    row: float  # centre of the body, rows (anterior -> posterior)
    column: float  # centre of the body, columns (patient's right -> left)
    height: int
    width: int


def body_frame(hu: np.ndarray, max_slices: int = 64) -> BodyFrame | None:
    """The body's centre and extent (voxels denser than air), or None when there is none."""
    step = max(1, len(hu) // max_slices)
    body = hu[::step] > BODY_HU
    if not body.any():
        return None
    (_, row, column), (_, height, width) = _centre_and_size(body)
    return BodyFrame(step, row, column, height, width)


def spine_in_front(hu: np.ndarray, frame: BodyFrame | None) -> bool:
    """True when dense bone in the body's middle third lies in front of its centre: the
    image is upside down against its header's orientation."""
    if frame is None:
        return False
    body = hu[::frame.step] > BODY_HU
    spine_row = _spine_row(hu[::frame.step], body, frame.column, frame.width)
    return spine_row is not None and spine_row < frame.row - MARGIN_FRACTION * frame.height


def liver_on_left(liver: np.ndarray, frame: BodyFrame | None) -> bool:
    """True when the liver's centre lies on the patient's left of the body's centre."""
    if frame is None:
        return False
    per_column = np.count_nonzero(liver, axis=(0, 1))  # a reduction: no label image
    if not per_column.any():
        return False
    column = float(per_column @ np.arange(len(per_column)) / per_column.sum())
    return column > frame.column + MARGIN_FRACTION * frame.width


def liver_warnings(raw_liver: np.ndarray, liver: np.ndarray,
                   spacing_zyx: tuple[float, ...]) -> list[str]:
    """Warnings (possibly none) about the size of the cleaned ``liver`` and the pieces of
    the stage's ``raw_liver`` output it was taken from (the largest one)."""
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    volume_ml = float(liver.sum()) * voxel_ml
    warnings = []
    if not liver.any():
        warnings.append("no liver was found: is this an abdominal CT?")
    elif not LIVER_ML[0] <= volume_ml <= LIVER_ML[1]:
        warnings.append(f"the liver found measures {volume_ml:.0f} ml, outside the "
                        f"{LIVER_ML[0]:g}-{LIVER_ML[1]:g} ml of an adult liver: check the "
                        "segmentation (is the whole liver in the CT? is it in HU?)")
    step = 2  # the pieces' sizes on every second voxel: ample for 100 ml
    box = mask_bbox(raw_liver)
    if box is None:
        return warnings
    # the raw liver's box only, from an even corner: the voxels every second one of the
    # whole grid would sample
    sampled = raw_liver[tuple(slice(start - start % step, stop, step)
                              for start, stop in zip(box.start, box.stop, strict=True))]
    labels, count = ndimage.label(sampled)
    if count > 1:
        sizes = np.sort(np.bincount(labels.ravel())[1:])[::-1] * voxel_ml * step**3
        large = int(np.sum(sizes[1:] >= LARGE_PIECE_ML))
        if large:
            warnings.append(f"the liver stage found {large + 1} separate large pieces "
                            f"({', '.join(f'{v:.0f}' for v in sizes[:large + 1])} ml); only "
                            "the largest is kept as the liver")
    return warnings


def _centre_and_size(mask: np.ndarray) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Centre of mass and bounding-box size of a non-empty (z, y, x) mask, in voxels."""
    box = mask_bbox(mask)
    return _centroid(mask), tuple(b - a for a, b in zip(box.start, box.stop, strict=True))


def _centroid(mask: np.ndarray) -> tuple[float, ...]:
    """``ndimage.center_of_mass`` of a non-empty boolean mask, from one count per axis
    (ndimage's takes 0.4 s on 64 slices of 512x512)."""
    total = np.count_nonzero(mask)
    return tuple(float(np.count_nonzero(mask, axis=tuple(a for a in range(mask.ndim) if a != k))
                       @ np.arange(mask.shape[k]) / total) for k in range(mask.ndim))


def _spine_row(hu: np.ndarray, body: np.ndarray, column: float, width: float) -> float | None:
    """The mean row of dense bone in the middle third of the body's width, if enough."""
    low = int(max(0, column - width * CENTRAL_FRACTION / 2))
    high = int(column + width * CENTRAL_FRACTION / 2) + 1
    bone = (hu[:, :, low:high] > BONE_HU) & body[:, :, low:high]
    if bone.sum() < MIN_BONE_VOXELS:
        return None
    return _centroid(bone)[1]
