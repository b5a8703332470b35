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
    ys, xs = _centroid_extent(body, axis=1), _centroid_extent(body, axis=2)
    warnings = []
    spine_row = _spine_row(hu[::step], body, xs)
    if spine_row is not None and spine_row < ys[0] - MARGIN_FRACTION * ys[1]:
        warnings.append("the spine lies in front of the body's centre: the image looks upside "
                        "down against its header's orientation, and the liver stage relies on "
                        "that orientation (check the header)")
    if liver.any():
        liver_column = _centroid_extent(liver, axis=2)[0]
        if liver_column > xs[0] + MARGIN_FRACTION * xs[1]:
            warnings.append("the liver found lies on the patient's left: the image may be "
                            "mirrored against its header's orientation, and the liver stage "
                            "relies on that orientation (check the header; or situs inversus)")
    return warnings


def _centroid_extent(mask: np.ndarray, axis: int) -> tuple[float, float]:
    """(centroid, extent) of ``mask`` along ``axis`` of a (z, y, x) array, in voxels."""
    profile = mask.sum(axis=tuple(a for a in range(3) if a != axis)).astype(np.float64)
    index = np.nonzero(profile)[0]
    centroid = float((profile * np.arange(len(profile))).sum() / profile.sum())
    return centroid, float(index[-1] - index[0] + 1)


def _spine_row(hu: np.ndarray, body: np.ndarray, columns: tuple[float, float]) -> float | None:
    """The mean row of dense bone in the middle third of the body's width, if enough."""
    centre, width = columns
    low = int(max(0, centre - width * CENTRAL_FRACTION / 2))
    high = int(centre + width * CENTRAL_FRACTION / 2) + 1
    bone = (hu[:, :, low:high] > BONE_HU) & body[:, :, low:high]
    if bone.sum() < MIN_BONE_VOXELS:
        return None
    return _centroid_extent(bone, axis=1)[0]
