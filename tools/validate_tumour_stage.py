"""Score a tumour-stage checkpoint on real volumes with the reference liver as its region,
so that the liver stage's errors are left out: the cascade's tumour step and clean-up,
then the LiTS tumour and lesion figures. Without and with flip test-time augmentation.
Usage: python tools/validate_tumour_stage.py CKPT CASE_DIR [CASE_DIR ...]
(each CASE_DIR holds volume.nii.gz and segmentation.nii.gz)"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from livseg.infer import Cascade, CascadeSettings, Stage
from livseg.infer.postprocess import clean_tumours, label_map
from livseg.io import read_volume
from livseg.io.labels import as_label_map
from livseg.metrics import evaluate_case
from livseg.preprocess import crop, mask_bbox, to_canonical, uncrop


def main(checkpoint: str, cases: list[str]) -> None:
    stage = Stage.load(checkpoint)
    for case in map(Path, cases):
        ct = to_canonical(read_volume(case / "volume.nii.gz"))[0]
        path = case / "segmentation.nii.gz"
        reference = to_canonical(as_label_map(read_volume(path), path))[0]
        liver = reference.array >= 1
        box = mask_bbox(liver, ct.spacing_zyx, CascadeSettings().roi_margin_mm)
        for tta in (False, True):
            cascade = Cascade(stage, stage, CascadeSettings(tta=tta))
            found = cascade.tumour_probability(crop(ct.array.astype(np.float32), box),
                                               ct.spacing_zyx, None, crop(liver, box)) > 127.5
            tumour = clean_tumours(uncrop(found, box, liver.shape, False), liver,
                                   ct.spacing_zyx)
            result = evaluate_case(label_map(liver, tumour), reference.array,
                                   ct.spacing_zyx, case=case.name).as_dict()
            scores = {k: result["tumour"][k] for k in ("dice", "sensitivity", "precision")}
            print(f"{case.name} ({'flip TTA' if tta else 'no TTA'}): tumour "
                  + ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
                  + " | lesions " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else
                                              f"{k} {v}" for k, v in result["lesions"].items()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
