"""Write the patient split of lits_vol256 that every training and benchmark reads.

`python tools/make_split.py ../shared/data/lits_vol256 configs/splits/lits_vol256.json`

Seeded and stratified, so that the validation volumes hold tumours of every size and a
tumour-free liver: the liver-holding volumes are sorted by their total tumour volume; one
of the tumour-free livers and one volume from each fifth of the tumour-holding ones (drawn
with the seed) are the validation set; the rest (and any volume without a liver, kept as
negative slices) are the training set. ``folds`` divides the liver-holding volumes into k
groups the same way (stratified by tumour volume), for k-fold cross-validation.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from livseg.io import read_volume  # noqa: E402
from livseg.io.pairs import lits_pairs  # noqa: E402

SEED = 0
VALIDATION_STRATA = 5
FOLDS = 5


def volume_stats(folder: Path) -> dict[str, dict]:
    stats = {}
    for case, _, labels_path in lits_pairs(folder):
        labels = read_volume(labels_path)
        ml = labels.voxel_volume_ml
        lesions, count = ndimage.label(labels.array == 2, np.ones((3, 3, 3), bool))
        sizes = np.bincount(lesions.ravel())[1:] * ml
        stats[case] = {"liver_ml": round(float((labels.array >= 1).sum() * ml), 1),
                       "tumour_ml": round(float((labels.array == 2).sum() * ml), 2),
                       "lesions": int(count),
                       "largest_lesion_ml": round(float(sizes.max()) if count else 0.0, 2)}
    return stats


def stratified_groups(cases: list[str], groups: int, rng: np.random.Generator) -> list[list]:
    """``cases`` (sorted by tumour volume) dealt into ``groups`` so that each group gets one
    of every ``groups`` consecutive cases, in a seeded order."""
    dealt: list[list[str]] = [[] for _ in range(groups)]
    for start in range(0, len(cases), groups):
        block = cases[start:start + groups]
        for group, case in zip(rng.permutation(groups)[:len(block)], block, strict=True):
            dealt[group].append(case)
    return [sorted(group) for group in dealt]


def make_split(folder: Path) -> dict:
    stats = volume_stats(folder)
    rng = np.random.default_rng(SEED)
    with_liver = [c for c in stats if stats[c]["liver_ml"] > 0]
    tumour_free = sorted(c for c in with_liver if stats[c]["tumour_ml"] == 0)
    with_tumour = sorted((c for c in with_liver if stats[c]["tumour_ml"] > 0),
                         key=lambda c: stats[c]["tumour_ml"])
    strata = np.array_split(np.array(with_tumour), VALIDATION_STRATA)
    validation = [str(rng.choice(tumour_free))] + [str(rng.choice(s)) for s in strata]
    by_tumour = sorted(with_liver, key=lambda c: stats[c]["tumour_ml"])
    return {
        "dataset": "lits_vol256",
        "rule": __doc__.strip().splitlines()[4],
        "made_by": "python tools/make_split.py ../shared/data/lits_vol256 "
                   "configs/splits/lits_vol256.json",
        "seed": SEED,
        "train": sorted(c for c in stats if c not in validation),
        "validation": sorted(validation),
        "folds": stratified_groups(by_tumour, FOLDS, rng),
        "test_cases": ["ircad07", "lits_small"],
        "volumes": stats,
    }


def main(argv: list[str]) -> int:
    folder, out = Path(argv[0]), Path(argv[1])
    split = make_split(folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(split, indent=1) + "\n")
    print(f"{out}: train {len(split['train'])}, validation {split['validation']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
