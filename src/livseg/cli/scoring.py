"""``evaluate``, ``info`` and ``phantom``: scoring label maps and describing CTs."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from livseg.cli.common import (
    add_max_voxels,
    bounded_int,
    read_limits,
    spacing_mm,
)
from livseg.errors import LivsegInputError
from livseg.io.limits import MAX_VOXELS, ReadLimits, check_declared_size, check_grid
from livseg.io.text import check_writable_folder
from livseg.io.volume import IDENTITY_DIRECTION

log = logging.getLogger("livseg")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from livseg.io.text import write_csv, write_json
    from livseg.metrics import evaluate_files, evaluation_report
    from livseg.metrics.table import flat_rows, format_table

    if (args.images is None) != (args.pictures is None):
        raise LivsegInputError("--images and --pictures go together")
    for output in (args.json, args.csv):
        if output is not None:
            check_writable_folder(output.parent)
    if args.pictures is not None:
        check_writable_folder(args.pictures)
    on_case = _comparison_pictures(args.images, args.pictures) if args.pictures else None
    report = evaluation_report(list(evaluate_files(args.pred, args.gt, on_case)))
    print(format_table(report))
    if args.json:
        write_json(args.json, report)
        log.info("wrote %s", args.json)
    if args.csv:
        write_csv(args.csv, flat_rows(report))
        log.info("wrote %s", args.csv)
    return 0


def _comparison_pictures(images: Path, pictures: Path):
    """For ``evaluate --pictures``: draw each case on its CT from ``images`` (a file, or a
    folder holding the CT under the case's file name or with "segmentation" read "volume")."""
    from livseg.io import read_volume
    from livseg.viz.compare import save_comparison

    def draw(case: str, prediction, reference) -> None:
        if images.is_file():
            ct_path = images
        else:
            named = [p for p in sorted(images.glob(f"{case}.*")) + sorted(
                images.glob(f"{case.replace('segmentation', 'volume')}.*")) if p.is_file()]
            if not named:
                raise LivsegInputError(f"holds no CT for case {case}", images)
            ct_path = named[0]
        ct = read_volume(ct_path)
        if not ct.same_grid(reference, tolerance=1e-3):
            raise LivsegInputError(f"lies on another grid than the reference of {case}", ct_path)
        save_comparison(ct, reference, prediction, pictures / f"{case}.png", title=case)

    return draw


def _cmd_info(args: argparse.Namespace) -> int:
    import numpy as np

    from livseg.io import read_volume
    from livseg.preprocess import canonical_reorientation

    volume = read_volume(args.input, limits=read_limits(args))
    direction = np.round(volume.direction_matrix, 4).tolist()
    print(f"{args.input}\n  {volume.describe_grid()}\n  origin {volume.origin} mm (LPS)"
          f"\n  direction {direction}\n  values {volume.array.min()} .. {volume.array.max()} "
          f"({volume.array.dtype})\n  canonical {canonical_reorientation(volume.direction)}")
    for note in volume.notes:
        print(f"  note: {note}")
    return 0


def _cmd_phantom(args: argparse.Namespace) -> int:
    from livseg.io import write_volume
    from livseg.phantom import make_phantom

    check_declared_size(args.shape[::-1], "--shape", ReadLimits())
    check_grid(args.shape, args.spacing, (0.0, 0.0, 0.0), IDENTITY_DIRECTION, "--spacing")
    check_writable_folder(args.out)
    phantom = make_phantom(shape=tuple(args.shape), spacing=tuple(args.spacing),
                           n_tumours=args.tumours, seed=args.seed)
    write_volume(phantom.ct, args.out / "volume.nii.gz")
    write_volume(phantom.labels, args.out / "segmentation.nii.gz")
    print(f"wrote {args.out}/volume.nii.gz and segmentation.nii.gz "
          f"({len(phantom.tumours)} tumours)")
    return 0


def register(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="score label maps as LiTS does")
    evaluate.add_argument("--pred", type=Path, required=True, help="label file or folder")
    evaluate.add_argument("--gt", type=Path, required=True, help="reference file or folder")
    evaluate.add_argument("--json", type=Path, help="write per-case and aggregate figures")
    evaluate.add_argument("--csv", type=Path, help="write one row per case")
    evaluate.add_argument("--images", type=Path, help="the CTs (file or folder), for --pictures")
    evaluate.add_argument("--pictures", type=Path,
                          help="folder for CT | reference | prediction pictures per case")
    evaluate.set_defaults(run=_cmd_evaluate)

    info = commands.add_parser("info", help="read a CT and describe its grid")
    info.add_argument("input", type=Path, help="NIfTI/NRRD/MHA file or DICOM series folder")
    add_max_voxels(info)
    info.set_defaults(run=_cmd_info)

    phantom = commands.add_parser("phantom", help="write a synthetic abdominal CT and labels")
    phantom.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    phantom.add_argument("--shape", type=bounded_int(8, 4096), nargs=3, default=(48, 128, 128),
                         metavar=("Z", "Y", "X"), help=f"voxels (8-4096 each, at most "
                                                       f"{MAX_VOXELS:,} in all)")
    phantom.add_argument("--spacing", type=spacing_mm, nargs=3, default=(2.5, 2.5, 5.0),
                         metavar=("SX", "SY", "SZ"), help="voxel size in mm (x y z)")
    phantom.add_argument("--tumours", type=bounded_int(0, 50), default=3)
    phantom.add_argument("--seed", type=bounded_int(0), default=0)
    phantom.set_defaults(run=_cmd_phantom)
