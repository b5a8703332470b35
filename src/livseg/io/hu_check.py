"""Does a CT hold Hounsfield units? Checked once it is read, before any network sees it.

A CT stored without its rescale slope and intercept (raw detector values, 0..4095, air
near 0 and soft tissue near 1000) reads as a valid image, and the liver stage then finds
the whole body: a confident wrong answer. Air near -1000 HU and soft tissue near 0-100 HU
are the signature of HU; a CT with neither is refused, one with only part of it warned of.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from livseg.errors import LivsegInputError
from livseg.io import read_volume
from livseg.io.limits import DEFAULT_LIMITS, ReadLimits
from livseg.io.volume import Volume

log = logging.getLogger(__name__)

AIR_HU = (-1100.0, -500.0)
SOFT_TISSUE_HU = (-200.0, 300.0)
DENSE_HU = 700.0  # above: cortical bone and metal only, a few percent of a CT at most
#: Fractions of the voxels below which a kind of tissue counts as absent.
MIN_AIR_FRACTION = 0.001
MIN_SOFT_TISSUE_FRACTION = 0.05
MAX_DENSE_FRACTION = 0.05
#: Above this (at the 99.9 percentile) no CT is in HU: metal in extended-range CT reaches a
#: few thousand. (There is no such bound below: scanners pad outside their field of view
#: with -2048, -3024 or -32768.)
MAX_HU = 10000.0
SAMPLE_VOXELS = 2_000_000


def hu_warnings(array: np.ndarray, path: str | Path | None = None) -> list[str]:
    """Warnings (possibly none) about ``array``'s intensities as HU; raises
    LivsegInputError when they clearly are not HU (no air, much of it denser than bone,
    or all about one value)."""
    step = max(1, round((array.size / SAMPLE_VOXELS) ** (1 / 3)))
    sample = np.asarray(array[::step, ::step, ::step], dtype=np.float32)
    low, high = (float(v) for v in np.percentile(sample, (0.1, 99.9)))
    shown = f"values {float(sample.min()):g}..{float(sample.max()):g}"
    air = float(np.mean((sample >= AIR_HU[0]) & (sample <= AIR_HU[1])))
    soft = float(np.mean((sample >= SOFT_TISSUE_HU[0]) & (sample <= SOFT_TISSUE_HU[1])))
    dense = float(np.mean(sample > DENSE_HU))
    if high - low < 50:
        raise LivsegInputError(f"does not look like a CT: nearly all voxels lie within 50 of "
                               f"one value ({shown})", path)
    if high > MAX_HU:
        raise LivsegInputError(f"does not look like CT in Hounsfield units: a thousandth of "
                               f"its voxels lie above {high:g}, far above any tissue or metal "
                               f"(at most about {MAX_HU:g} HU); is its rescale slope or unit "
                               "wrong?", path)
    if low >= 0:
        raise LivsegInputError(f"does not look like CT in Hounsfield units: it has no "
                               f"negative values ({shown}), so neither fat (-100 HU) nor air "
                               "(-1000 HU); is it 8-bit pixels or stored values without "
                               "their rescale?", path)
    if air < MIN_AIR_FRACTION and dense > MAX_DENSE_FRACTION:
        raise LivsegInputError(f"does not look like CT in Hounsfield units: no air near -1000 "
                               f"HU and {dense:.0%} of voxels above {DENSE_HU:g} HU ({shown}); "
                               "is it stored without its rescale slope and intercept?", path)
    warnings = []
    if air < MIN_AIR_FRACTION:
        warnings.append(f"no air near -1000 HU ({shown}): the CT may be clipped or not in "
                        "Hounsfield units, and the liver stage expects full-range HU")
    if soft < MIN_SOFT_TISSUE_FRACTION:
        warnings.append(f"only {soft:.1%} of voxels are soft tissue ({SOFT_TISSUE_HU[0]:g} to "
                        f"{SOFT_TISSUE_HU[1]:g} HU): the CT may not be in Hounsfield units")
    return warnings


def read_ct(path: str | Path, series: str | None = None,
            limits: ReadLimits = DEFAULT_LIMITS) -> Volume:
    """Read a CT (see :func:`livseg.io.read_volume`) and check that it holds HU: refused
    when it clearly does not, warnings logged and added to its notes when in doubt."""
    volume = read_volume(path, series, limits)
    warnings = hu_warnings(volume.array, path)
    for warning in warnings:
        log.warning("%s: %s", path, warning)
    return replace(volume, notes=(*volume.notes, *warnings)) if warnings else volume
