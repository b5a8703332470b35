"""Pairing prediction and reference label files and scoring them."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from livseg.errors import LivsegInputError
from livseg.io.files import case_name, image_suffix
from livseg.io.labels import read_label_map
from livseg.io.volume import Volume
from livseg.metrics.evaluate import CaseResult, evaluate_case
from livseg.preprocess.orientation import to_canonical

log = logging.getLogger(__name__)


def pair_label_files(prediction: Path, reference: Path) -> list[tuple[str, Path, Path]]:
    """(case, prediction file, reference file) for two files or two folders matched by name."""
    for path in (prediction, reference):
        if not path.exists():
            raise LivsegInputError("does not exist", path)
    if prediction.is_file() and reference.is_file():
        return [(case_name(reference), prediction, reference)]
    if not (prediction.is_dir() and reference.is_dir()):
        raise LivsegInputError("--pred and --gt must both be files or both be folders",
                               prediction if prediction.is_dir() else reference)
    predictions = {p.name: p for p in prediction.iterdir() if p.is_file() and image_suffix(p)}
    references = {p.name: p for p in reference.iterdir() if p.is_file() and image_suffix(p)}
    if not references:
        raise LivsegInputError("holds no label files (.nii.gz, .nii, .nrrd, .mha, ...)", reference)
    missing = sorted(set(references) - set(predictions))
    if missing:
        listed = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise LivsegInputError(f"has no prediction for {len(missing)} reference file(s): {listed}",
                               prediction)
    for extra in sorted(set(predictions) - set(references)):
        log.warning("%s has no reference; not scored", predictions[extra])
    return [(case_name(references[n]), predictions[n], references[n]) for n in sorted(references)]


def evaluate_files(prediction: Path, reference: Path,
                   on_case: Callable[[str, Volume, Volume], None] | None = None,
                   ) -> Iterator[CaseResult]:
    """Score each predicted label file against its reference, one case at a time;
    ``on_case(case, prediction, reference)`` sees each pair (e.g. to draw pictures)."""
    for case, pred_path, ref_path in pair_label_files(Path(prediction), Path(reference)):
        ref = read_label_map(ref_path)
        pred = read_label_map(pred_path)
        if not pred.same_grid(ref):
            raise LivsegInputError(f"lies on another grid than its reference {ref_path} "
                                   f"({pred.describe_grid()} vs {ref.describe_grid()}); "
                                   "resample it to the reference grid first", pred_path)
        log.info("scoring %s", case)
        if on_case is not None:
            on_case(case, pred, ref)
        yield evaluate_volumes(pred, ref, case)


def evaluate_volumes(prediction: Volume, reference: Volume, case: str = "case") -> CaseResult:
    """Score two label maps on the same grid, in canonical orientation (so that lesion
    diameters are measured in the patient's axial plane whatever the files' orientation)."""
    canonical_reference = to_canonical(reference, copy=False)[0]
    canonical_prediction = to_canonical(prediction, copy=False)[0]
    return evaluate_case(canonical_prediction.array, canonical_reference.array,
                         canonical_reference.spacing_zyx, case=case)
