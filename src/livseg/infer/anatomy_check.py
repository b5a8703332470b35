"""Does the canonical volume look like an abdomen the right way round?

The liver stage was trained on slices in the canonical orientation only, so it relies on
the orientation the file's header describes. A header that does not describe its image
(an identity affine on a flipped array, a mirrored export) gives a poor liver without any
error. Two cheap anatomical checks catch the usual cases and say so in the report:

- the spine lies posterior to the body's centre (canonical rows run anterior -> posterior);
- the liver found lies on the patient's right (canonical columns run right -> left).

They warn; they never change the answer (situs inversus is real, and rare).
"""
from __future__ import annotations

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


def orientation_warnings(hu: np.ndarray, liver: np.ndarray,
                         max_slices: int = 64) -> list[str]:
    """Warnings (possibly none) for canonical ``hu`` (z, y, x) and the liver mask found."""
    step = max(1, len(hu) // max_slices)
    body = hu[::step] > BODY_HU
    if not body.any():
        return []
    (_, row, column), (_, height, width) = _centre_and_size(body)
    warnings = []
    spine_row = _spine_row(hu[::step], body, column, width)
    if spine_row is not None and spine_row < row - MARGIN_FRACTION * height:
        warnings.append("the spine lies in front of the body's centre: the image looks upside "
                        "down against its header's orientation, and the liver stage relies on "
                        "that orientation (check the header)")
    if liver.any() and ndimage.center_of_mass(liver)[2] > column + MARGIN_FRACTION * width:
        warnings.append("the liver found lies on the patient's left: the image may be "
                        "mirrored against its header's orientation, and the liver stage "
                        "relies on that orientation (check the header; or situs inversus)")
    return warnings


def _centre_and_size(mask: np.ndarray) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Centre of mass and bounding-box size of a non-empty (z, y, x) mask, in voxels."""
    box = mask_bbox(mask)
    return ndimage.center_of_mass(mask), tuple(b - a for a, b in zip(box.start, box.stop,
                                                                      strict=True))


def _spine_row(hu: np.ndarray, body: np.ndarray, column: float, width: float) -> float | None:
    """The mean row of dense bone in the middle third of the body's width, if enough."""
    low = int(max(0, column - width * CENTRAL_FRACTION / 2))
    high = int(column + width * CENTRAL_FRACTION / 2) + 1
    bone = (hu[:, :, low:high] > BONE_HU) & body[:, :, low:high]
    if bone.sum() < MIN_BONE_VOXELS:
        return None
    return float(ndimage.center_of_mass(bone)[1])
