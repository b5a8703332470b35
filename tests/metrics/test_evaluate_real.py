"""``livseg evaluate`` on damaged copies of real LiTS label maps, against an independent
computation (plain numpy sums, distance transforms of the whole array, a brute-force lesion
match)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from livseg.cli import main
from livseg.io import read_volume, write_volume
from tests.conftest import shared_file


def damage(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Erode half the liver, drop the largest tumour, grow another, add a false lesion."""
    rng = np.random.default_rng(seed)
    out = labels.copy()
    liver = labels >= 1
    eroded = ndimage.binary_erosion(liver)
    half = np.zeros(liver.shape, bool)
    half[:, :, : liver.shape[2] // 2] = True
    out[half & liver & ~eroded] = 0
    tumours, n = ndimage.label(labels == 2, structure=np.ones((3, 3, 3)))
    if n:
        sizes = np.bincount(tumours.ravel())[1:]
        out[tumours == np.argmax(sizes) + 1] = 1
        if n > 1:
            second = np.argsort(sizes)[-2] + 1
            out[ndimage.binary_dilation(tumours == second) & (out >= 1)] = 2
    inside = np.argwhere(eroded & (labels == 1))
    z, y, x = inside[rng.integers(len(inside))]
    out[max(z - 1, 0):z + 2, max(y - 2, 0):y + 3, max(x - 2, 0):x + 3] = 2
    return out


def surface_mask(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1)
    core = padded[1:-1, 1:-1, 1:-1]
    exposed = np.zeros(mask.shape, bool)
    for axis in range(3):
        for step in (-1, 1):
            neighbour = np.roll(padded, step, axis=axis)[1:-1, 1:-1, 1:-1]
            exposed |= core & ~neighbour
    return exposed


def independent_distances(pred, ref, spacing_zyx):
    """By Euclidean distance transforms (livseg queries a k-d tree), in the box that holds
    both surfaces (exact there: every nearest surface voxel lies inside)."""
    a, b = surface_mask(pred), surface_mask(ref)
    box = tuple(slice(i.min(), i.max() + 1) for i in np.nonzero(a | b))
    a, b = a[box], b[box]
    d_ab = ndimage.distance_transform_edt(~b, sampling=spacing_zyx)[a]
    d_ba = ndimage.distance_transform_edt(~a, sampling=spacing_zyx)[b]
    pooled = np.concatenate([d_ab, d_ba])
    return pooled.mean(), max(np.percentile(d_ab, 95), np.percentile(d_ba, 95))


def brute_force_recall(pred, ref):
    """Each reference lesion against every predicted component it touches (one it does not
    touch has IoU 0), IoU over the whole arrays."""
    structure = np.ones((3, 3, 3))
    ref_lab, n_ref = ndimage.label(ref, structure=structure)
    pred_lab, _ = ndimage.label(pred, structure=structure)
    found = 0
    for r in range(1, n_ref + 1):
        lesion = ref_lab == r
        for p in np.unique(pred_lab[lesion]):
            candidate = pred_lab == p
            union = np.count_nonzero(lesion | candidate)
            if p and np.count_nonzero(lesion & candidate) / union > 0.5:
                found += 1
                break
    return found / n_ref if n_ref else 1.0


@pytest.mark.slow
@pytest.mark.parametrize("case", ["lits117_crop", "lits_small"])
def test_evaluate_agrees_with_an_independent_computation(tmp_path, case):
    reference_path = shared_file(f"{case}/segmentation.nii.gz")
    reference = read_volume(reference_path)
    damaged = damage(reference.array.astype(np.uint8))
    write_volume(reference.with_array(damaged), tmp_path / "damaged.nii.gz")
    assert main(["evaluate", "--pred", str(tmp_path / "damaged.nii.gz"), "--gt",
                 str(reference_path), "--json", str(tmp_path / "e.json")]) == 0
    scored = json.loads((tmp_path / "e.json").read_text())["cases"][0]
    spacing = reference.spacing_zyx
    for name, select in (("liver", lambda a: a >= 1), ("tumour", lambda a: a == 2)):
        pred, ref = select(damaged), select(reference.array)
        dice = 2 * np.count_nonzero(pred & ref) / (pred.sum() + ref.sum())
        assd, hd95 = independent_distances(pred, ref, spacing)
        got = scored[name]
        assert got["dice"] == pytest.approx(dice, abs=1e-3)
        assert got["assd_mm"] == pytest.approx(assd, abs=max(0.1, 0.03 * assd))
        assert got["hd95_mm"] == pytest.approx(hd95, abs=max(0.1, 0.03 * hd95))
    assert scored["lesions"]["recall_iou50"] == brute_force_recall(damaged == 2,
                                                                   reference.array == 2)
    assert scored["liver"]["dice"] < 0.999 and scored["lesions"]["recall_iou50"] < 1
