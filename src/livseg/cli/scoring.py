"""``evaluate``, ``info`` and ``phantom``: scoring label maps and describing CTs."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from livseg.cli.common import (
    add_max_voxels,
    add_precision_options,
    bounded_int,
    read_limits,
    shipped_int8,
    spacing_mm,
)
from livseg.errors import LivsegInputError
from livseg.io.limits import MAX_VOXELS, ReadLimits, check_declared_size, check_grid
from livseg.io.text import check_writable_folder

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
    from livseg.io.volume import IDENTITY_DIRECTION
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


def _cmd_benchmark(args: argparse.Namespace) -> int:
    import sys

    import matplotlib  # noqa: F401  (its pictures: checked before any case runs)

    from livseg.benchmark import format_markdown, group_picture
    from livseg.io.text import write_json, write_text_atomic

    if args.split is None and not args.cases:
        raise LivsegInputError("give --split (with --data) or --cases, or both")
    if args.split is not None and args.data is None:
        raise LivsegInputError("--split needs --data, the folder holding its volumes")
    if args.folds and (args.split is None or args.fold is not None or args.cases
                       or args.subset != "validation"):
        raise LivsegInputError("--folds scores every fold of --split with its own models; "
                               "it takes neither --fold, --subset nor --cases (score test "
                               "cases with one model, in a run of their own)")
    per_fold = [path for path in (args.liver_weights, args.tumour_weights)
                if path is not None and "{fold}" in str(path)]
    if bool(per_fold) != args.folds:
        raise LivsegInputError("--folds needs a model per fold: --tumour-weights or "
                               "--liver-weights holding {fold} (e.g. runs/cv/fold{fold}/last.pt)"
                               if args.folds else "a weights path holding {fold} needs --folds")
    if (args.out / "benchmark.json").exists() and not args.overwrite:
        raise LivsegInputError("already holds benchmark.json; use --overwrite to replace it",
                               args.out)
    check_writable_folder(args.out)
    document = _run_benchmark(args, log_line=lambda line: print(line, file=sys.stderr))
    document["split"] = None if args.split is None else str(args.split)
    markdown = format_markdown(document)
    pictures = [group_picture(document, group, args.out) for group in document["summary"]]
    write_json(args.out / "benchmark.json", document)
    write_text_atomic(args.out / "benchmark.md", markdown)
    print(markdown)
    drawn = ", ".join(p.name for p in pictures if p is not None)
    print(f"wrote {args.out}/benchmark.md and benchmark.json" + (f"; {drawn}" if drawn else ""))
    return 0


def _run_benchmark(args: argparse.Namespace, log_line) -> dict:
    from livseg.benchmark import run_benchmark, run_cross_validation, split_cases, test_cases
    from livseg.infer import Cascade, CascadeSettings
    from livseg.splits import read_split

    def cascade(fold: int | None = None) -> Cascade:
        liver, tumour = (None if path is None else Path(str(path).format(fold=fold))
                         for path in (args.liver_weights, args.tumour_weights))
        return Cascade.shipped(liver_path=liver, tumour_path=tumour, int8=shipped_int8(args),
                               settings=CascadeSettings(tta=args.tta))

    if args.folds:
        split = read_split(args.split)
        if not split.folds:
            raise LivsegInputError("defines no folds", args.split)
        folds = [split_cases(split, args.data, fold=fold) for fold in range(len(split.folds))]
        for fold in range(len(folds)):  # every fold's models exist before any case runs
            for path in (args.liver_weights, args.tumour_weights):
                if path is not None and not Path(str(path).format(fold=fold)).exists():
                    raise LivsegInputError(f"does not exist (fold {fold}'s model)",
                                           Path(str(path).format(fold=fold)))
        return run_cross_validation(folds, args.out, cascade, log_line)
    cases = []
    if args.split is not None:
        cases += split_cases(read_split(args.split), args.data, args.subset, args.fold)
    cases += test_cases(args.cases)
    return run_benchmark(cases, args.out, cascade(), log_line)


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

    benchmark = commands.add_parser(
        "benchmark", help="the predict cascade on a split's validation volumes (and test "
                          "cases), scored per volume as LiTS does")
    benchmark.add_argument("--split", type=Path,
                           help="patient split file, e.g. configs/splits/lits_vol256.json")
    benchmark.add_argument("--data", type=Path, help="the LiTS-layout folder of the split's "
                                                     "volumes (volume-N, segmentation-N)")
    benchmark.add_argument("--subset", choices=("validation", "train"), default="validation")
    benchmark.add_argument("--fold", type=bounded_int(0),
                           help="score fold I of the split's k folds instead")
    benchmark.add_argument("--folds", action="store_true",
                           help="k-fold cross-validation: each fold's volumes with its own "
                                "models (weights paths with {fold}, e.g. "
                                "runs/cv/fold{fold}/last.pt), pooled into one out-of-fold "
                                "table")
    benchmark.add_argument("--cases", type=Path, nargs="*", default=[],
                           help="test cases: folders holding volume.nii.gz + "
                                "segmentation.nii.gz (reported apart, never chosen on)")
    benchmark.add_argument("-o", "--out", type=Path, required=True,
                           help="folder for benchmark.md, benchmark.json and each case's "
                                "predict outputs")
    benchmark.add_argument("--overwrite", action="store_true")
    benchmark.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True,
                           help="as livseg predict: flip test-time augmentation (default on)")
    benchmark.add_argument("--liver-weights", type=Path,
                           help="a checkpoint or ONNX model (with --folds: may hold {fold})")
    benchmark.add_argument("--tumour-weights", type=Path,
                           help="a checkpoint or ONNX model (with --folds: may hold {fold})")
    add_precision_options(benchmark)
    benchmark.set_defaults(run=_cmd_benchmark)

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
