"""Scans with known changes for ``livseg compare``: predict folders written from known label
maps (no network runs), a follow-up edited lesion by lesion and moved by a known transform."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from livseg.io import write_volume
from livseg.io.files import volume_from_sitk, volume_to_sitk
from livseg.io.text import write_json
from livseg.io.volume import Volume
from livseg.report import build_report, find_lesions

TUMOUR_HU = 45


def predict_folder(folder: Path, ct: Volume, labels: Volume) -> Path:
    """A folder as ``livseg predict`` leaves it, for ``labels`` on ``ct``."""
    folder.mkdir(parents=True)
    write_volume(ct, folder / "ct.nii.gz")
    write_volume(labels, folder / "segmentation.nii.gz")
    write_json(folder / "report.json", build_report(
        labels, input_path=str(folder / "ct.nii.gz"), models=[], seconds={}, ct=ct))
    return folder


def rigid(rotation_deg=(3.0, -2.0, 5.0), translation_mm=(10.0, -6.0, 4.0),
          centre=(0.0, 0.0, 0.0)) -> sitk.Euler3DTransform:
    """The known motion: it maps follow-up points to baseline points."""
    transform = sitk.Euler3DTransform()
    transform.SetCenter(centre)
    transform.SetRotation(*np.radians(rotation_deg))
    transform.SetTranslation(translation_mm)
    return transform


def moved(volume: Volume, transform: sitk.Transform, is_label: bool) -> Volume:
    """``volume`` as the follow-up scan sees it: the patient moved by ``transform``."""
    image = volume_to_sitk(volume)
    result = sitk.Resample(image, image, transform, sitk.sitkNearestNeighbor if is_label
                           else sitk.sitkLinear, 0 if is_label else -1000)
    return volume_from_sitk(result)


@dataclass
class Edited:
    ct: Volume
    labels: Volume
    expected: dict[int, tuple[str, float]]  # baseline lesion id -> (status, follow-up ml)
    new_ml: float  # the volume of the lesion added


def edit_lesions(ct: Volume, labels: Volume, grow: int, shrink: int | None = None,
                 remove: int | None = None, new_centre_zyx: tuple[int, int, int] | None = None,
                 new_radius_mm: float = 0.0) -> Edited:
    """The follow-up of ``labels``: baseline lesion ``grow`` dilated, ``shrink`` eroded,
    ``remove`` gone, a lesion added at ``new_centre_zyx``; the CT painted to match. Volumes
    measured on the edited grid (before any motion)."""
    lesions, lesion_map = find_lesions(labels, ct)
    hu, array = ct.array.copy(), labels.array.copy()
    liver = array >= 1
    ball = ndimage.generate_binary_structure(3, 1)
    grown = ndimage.binary_dilation(lesion_map == grow, ball, iterations=2) & liver
    array[grown], hu[grown] = 2, TUMOUR_HU
    kept = ndimage.binary_erosion(lesion_map == (shrink or -1), ball, iterations=1)
    lost = (lesion_map == (shrink or -1)) & ~kept
    array[lost], hu[lost] = 1, 95
    gone = lesion_map == (remove or -1)
    array[gone], hu[gone] = 1, 95
    added = np.zeros_like(liver)
    if new_centre_zyx is not None:
        z, y, x = np.indices(array.shape, sparse=True)
        sz, sy, sx = ct.spacing_zyx
        cz, cy, cx = new_centre_zyx
        added = (((z - cz) * sz) ** 2 + ((y - cy) * sy) ** 2 + ((x - cx) * sx) ** 2
                 <= new_radius_mm ** 2) & liver
    assert not (added & (array == 2)).any()
    array[added], hu[added] = 2, TUMOUR_HU
    edited = labels.with_array(array)
    after, _ = find_lesions(edited, ct)
    voxel_ml = ct.voxel_volume_ml
    expected = {}
    for lesion in lesions:
        status = ("grown" if lesion["id"] == grow else "shrunk" if lesion["id"] == shrink
                  else "gone" if lesion["id"] == remove else "stable")
        volume = {"grown": (grown | (lesion_map == grow)).sum() * voxel_ml,
                  "shrunk": kept.sum() * voxel_ml, "gone": 0.0}.get(status, lesion["volume_ml"])
        expected[lesion["id"]] = (status, float(volume))
    assert len(after) == len(lesions) - (remove is not None) + (new_centre_zyx is not None)
    return Edited(ct.with_array(hu), edited, expected, float(added.sum() * voxel_ml))
