"""``livseg demo``: the main job on built-in data.

Until the trained cascade ships, the demo builds a synthetic CT with tumours, makes a
deliberately degraded copy of its reference labels (the liver shifted by one voxel, the
smallest tumour missed, one false-positive lesion), and scores it with the LiTS metrics,
so that every number can be checked against what was done to the labels.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from livseg.io import write_volume
from livseg.io.text import write_json
from livseg.metrics import evaluate_case, evaluation_report, label_lesions
from livseg.metrics.table import format_table
from livseg.phantom import Phantom, make_phantom


def degrade_labels(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """A plausible imperfect segmentation: shifted liver, a missed and a false lesion."""
    rng = np.random.default_rng(seed)
    out = np.where(np.roll(labels >= 1, 1, axis=2), 1, 0).astype(np.uint8)
    tumours, count = label_lesions(labels == 2)
    if count:
        sizes = np.bincount(tumours.ravel())[1:]
        keep = np.isin(tumours, 1 + np.flatnonzero(np.arange(count) != np.argmin(sizes)))
        out[keep & (out == 1)] = 2
    liver_only = np.argwhere(out == 1)
    if len(liver_only):
        z, y, x = liver_only[rng.integers(len(liver_only))]
        out[z, max(0, y - 2): y + 2, max(0, x - 2): x + 2][out[z, max(0, y - 2): y + 2,
                                                             max(0, x - 2): x + 2] == 1] = 2
    return out


def save_picture(phantom: Phantom, prediction: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reference = phantom.labels.array
    slices = np.flatnonzero((reference == 2).any(axis=(1, 2)))
    chosen = slices[np.linspace(0, len(slices) - 1, 3).astype(int)] if len(slices) else \
        [reference.shape[0] // 2] * 3
    figure, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for axis, z in zip(axes, chosen, strict=True):
        axis.imshow(phantom.ct.array[z], cmap="gray", vmin=-160, vmax=240)
        axis.contour(reference[z], levels=[0.5, 1.5], colors=["lime", "red"], linewidths=1)
        axis.contour(prediction[z], levels=[0.5, 1.5], colors=["cyan", "yellow"],
                     linewidths=0.8, linestyles="dashed")
        axis.set_title(f"slice {z}")
        axis.axis("off")
    figure.suptitle("reference: liver green, tumour red; degraded copy: dashed")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def run_demo(out: Path) -> dict:
    """Write the demo's files to ``out`` (all or nothing) and print its summary."""
    started = time.perf_counter()
    out = Path(out)
    phantom = make_phantom(shape=(48, 128, 128), spacing=(2.5, 2.5, 5.0), n_tumours=4, seed=7)
    prediction = degrade_labels(phantom.labels.array)
    result = evaluate_case(prediction, phantom.labels.array, phantom.ct.spacing_zyx,
                           case="phantom-seed7")
    report = evaluation_report([result])
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent.resolve()))
    try:
        write_volume(phantom.ct, staging / "volume.nii.gz")
        write_volume(phantom.labels, staging / "segmentation.nii.gz")
        write_volume(phantom.labels.with_array(prediction), staging / "prediction.nii.gz")
        write_json(staging / "evaluation.json", report)
        save_picture(phantom, prediction, staging / "overview.png")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(format_table(report))
    print(f"\nSynthetic CT with {len(phantom.tumours)} tumours scored against a degraded copy of "
          f"its reference (liver shifted 1 voxel, smallest tumour missed, one false lesion).")
    print(f"Files in {out}/: volume.nii.gz, segmentation.nii.gz, prediction.nii.gz, "
          f"evaluation.json, overview.png  ({time.perf_counter() - started:.1f} s)")
    return report
