"""``livseg demo``: the cascade with the shipped weights on a synthetic CT with tumours and,
where the project's real data sits beside it, on a real CT, each scored against its
reference.

The real CT is TotalSegmentator's Apache-2.0 test fixture, shipped in the package
(``livseg/data/totalseg_ct_sm``, its licence and origin beside it); its reference liver was
made by the TotalSegmentator model, not by an expert, and it has no tumour labels. The phantom's
reference is exact by construction, but the networks were trained on real CT only, so it
shows how the cascade behaves on an unfamiliar image.
"""
from __future__ import annotations

import time
from pathlib import Path

from livseg.data import EXAMPLE_CT, EXAMPLE_FILES
from livseg.infer import Cascade
from livseg.io import read_volume, write_volume
from livseg.io.labels import as_label_map
from livseg.io.text import staged_folder, write_json
from livseg.metrics import evaluation_report
from livseg.metrics.cases import evaluate_volumes
from livseg.metrics.table import format_table
from livseg.phantom import make_phantom


def demo_cases(folder: Path) -> list[tuple[str, Path, Path]]:
    """(name, CT, reference) of each demo case; the phantom is written into ``folder``."""
    phantom = make_phantom(shape=(40, 160, 160), spacing=(2.0, 2.0, 5.0), n_tumours=4, seed=7)
    write_volume(phantom.ct, folder / "phantom" / "volume.nii.gz")
    write_volume(phantom.labels, folder / "phantom" / "reference.nii.gz")
    cases = [("phantom", folder / "phantom" / "volume.nii.gz",
              folder / "phantom" / "reference.nii.gz")]
    ct, reference = (EXAMPLE_CT / name for name in EXAMPLE_FILES)
    return [(EXAMPLE_CT.name, ct, reference), *cases]


def run_demo(out: Path) -> dict:
    """Write the demo's files to ``out`` (all or nothing), print its summary, return the
    evaluation report."""
    from livseg.predict import predict_file

    started = time.perf_counter()
    out = Path(out)
    cascade = Cascade.shipped()
    results, lines = [], []
    with staged_folder(out) as staging:
        cases = demo_cases(staging)
        for name, ct_path, reference_path in cases:
            report = predict_file(ct_path, staging / name, cascade, overwrite=True)
            prediction = read_volume(staging / name / "segmentation.nii.gz")
            reference = as_label_map(read_volume(reference_path), reference_path)
            results.append(evaluate_volumes(prediction, reference, name))
            lines.append(f"  {name}: liver {report['liver_volume_ml']:.0f} ml, tumour "
                         f"{report['tumour_volume_ml']:.1f} ml in {report['lesion_count']} "
                         f"lesion(s), cascade {report['seconds']['total']:.1f} s")
        evaluation = evaluation_report(results)
        write_json(staging / "evaluation.json", evaluation)
    print(format_table(evaluation))
    print("\n".join(["", "Cascade results:", *lines]))
    print("References: totalseg_ct_sm = TotalSegmentator model output (liver only, not "
          "expert; a real CT shipped with livseg, Apache-2.0); phantom = exact synthetic "
          "labels.")
    print(f"Files in {out}/: <case>/segmentation.nii.gz, report.json, overlay.png; "
          f"evaluation.json  ({time.perf_counter() - started:.1f} s)")
    return evaluation
