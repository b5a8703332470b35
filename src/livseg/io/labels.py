"""Label maps in the LiTS convention: 0 background, 1 liver, 2 tumour."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from livseg.errors import LivsegInputError
from livseg.io.volume import Volume

LITS_LABELS = (0, 1, 2)


def as_label_map(volume: Volume, path: str | Path) -> Volume:
    """``volume`` as a uint8 LiTS label map, or a clear error naming the unexpected values."""
    array = volume.array
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or not np.array_equal(array, np.round(array)):
            raise LivsegInputError("is not a label map: it holds non-integer values", path)
    elif not np.issubdtype(array.dtype, np.integer) and array.dtype != bool:
        raise LivsegInputError(f"is not a label map: voxel type {array.dtype}", path)
    values = np.unique(array)
    unexpected = [v for v in values.tolist() if v not in LITS_LABELS]
    if unexpected:
        shown = ", ".join(f"{v:g}" for v in unexpected[:8])
        shown += " ..." if len(unexpected) > 8 else ""
        raise LivsegInputError(f"holds label values {shown}; expected only 0 (background), "
                               "1 (liver) and 2 (tumour)", path)
    return volume.with_array(array.astype(np.uint8, copy=False))


def read_label_map(path: str | Path) -> Volume:
    """Read a LiTS-style label map file and check its values."""
    from livseg.io import read_volume

    return as_label_map(read_volume(path), path)
