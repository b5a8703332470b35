"""What a lesion looks like on the CT: its mean HU and spread, against the liver around it.

Used twice: the cascade drops candidate lesions by these figures (rules chosen on the
validation volumes, see ``CascadeSettings``), and the report gives them for every lesion.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Around each lesion, the liver between these distances (mm) from it is its surrounding
#: liver: outside the lesion's blurred edge, near enough to share its contrast phase.
SHELL_MM = (2.0, 10.0)
#: Fewer surrounding-liver voxels than this: no contrast is given.
MIN_SHELL_VOXELS = 20


@dataclass(frozen=True)
class LesionContrast:
    mean_hu: float
    surrounding_liver_hu: float | None  # None: too little liver around the lesion
    sd_hu: float = 0.0  # the spread of the lesion's own HU: a cyst is homogeneous
    p10_hu: float = 0.0
    p90_hu: float = 0.0

    @property
    def contrast_hu(self) -> float | None:
        if self.surrounding_liver_hu is None:
            return None
        return self.mean_hu - self.surrounding_liver_hu


def lesion_contrast(hu: np.ndarray, liver_only: np.ndarray, voxels: np.ndarray,
                    spacing_zyx: tuple[float, ...]) -> LesionContrast:
    """The mean HU of the lesion at ``voxels`` ((n, 3) indices into ``hu``), its spread
    (standard deviation, 10th and 90th percentiles) and the mean HU of the ``liver_only``
    voxels (liver, not tumour) ``SHELL_MM`` away from it (distances in mm)."""
    values = hu[tuple(voxels.T)].astype(np.float64)
    mean_hu = float(values.mean())
    p10, p90 = (float(v) for v in np.percentile(values, (10, 90)))
    spread = {"sd_hu": float(values.std()), "p10_hu": p10, "p90_hu": p90}
    reach = [int(np.ceil(SHELL_MM[1] / s)) + 1 for s in spacing_zyx]
    low = np.maximum(voxels.min(axis=0) - reach, 0)
    high = np.minimum(voxels.max(axis=0) + reach + 1, liver_only.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    lesion = np.zeros([b.stop - b.start for b in box], bool)
    lesion[tuple((voxels - low).T)] = True
    distance = ndimage.distance_transform_edt(~lesion, sampling=spacing_zyx)
    shell = (distance > SHELL_MM[0]) & (distance <= SHELL_MM[1]) & liver_only[box]
    if int(shell.sum()) < MIN_SHELL_VOXELS:
        return LesionContrast(mean_hu, None, **spread)
    return LesionContrast(mean_hu, float(hu[box][shell].mean()), **spread)
