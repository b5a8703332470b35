"""Finding (case, CT, reference labels) pairs in the folder layouts of public data sets."""
from __future__ import annotations

import re
from pathlib import Path


def lits_pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    """LiTS layout: ``volume-N.nii[.gz]`` beside ``segmentation-N.nii[.gz]``; case ``litsN``."""
    pairs = []
    for ct in sorted(Path(folder).glob("volume-*.nii*")):
        number = re.search(r"volume-(\d+)", ct.name)[1]
        matches = sorted(Path(folder).glob(f"segmentation-{number}.nii*"))
        if matches:
            pairs.append((f"lits{number}", ct, matches[0]))
    return pairs


def msd_pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    """Medical Segmentation Decathlon layout: ``imagesTr/X.nii.gz`` and ``labelsTr/X.nii.gz``."""
    pairs = []
    for ct in sorted((Path(folder) / "imagesTr").glob("*.nii*")):
        if ct.name.startswith("._"):
            continue
        label = Path(folder) / "labelsTr" / ct.name
        if label.exists():
            pairs.append((ct.name.split(".")[0], ct, label))
    return pairs


def single_pair(folder: Path) -> tuple[str, Path, Path] | None:
    """A folder holding one ``volume.nii*`` and its ``segmentation.nii*`` (case: the folder's
    name), or None."""
    cts = sorted(Path(folder).glob("volume.nii*"))
    labels = sorted(Path(folder).glob("segmentation.nii*"))
    return (Path(folder).name, cts[0], labels[0]) if cts and labels else None
