"""``predict``, ``explain`` and ``demo``: the cascade on CTs."""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from livseg.cli.common import (
    add_max_voxels,
    add_precision_options,
    bounded_int,
    non_negative_float,
    probability_value,
    read_limits,
    shard_spec,
    shipped_int8,
    thread_count,
)
from livseg.errors import LivsegInputError, printable
from livseg.infer.runners import BACKENDS, onnxruntime_available
from livseg.io.text import check_writable_folder

#: predict options that override the cascade's lesion rules when given
LESION_RULES = ("min_lesion_mm3", "tumour_threshold", "min_lesion_probability", "grow_threshold")
#: livseg.infer.stage.CANVAS_MODES (not imported here: the parser stays light)
CANVAS_MODES = ("none", "all", "flipped", "both")


def _cmd_predict(args: argparse.Namespace) -> int:
    from livseg.cohort import is_cohort
    from livseg.predict import predict_file

    if not args.input.exists():
        raise LivsegInputError("does not exist", args.input)
    if (args.int8 or args.float32) and (args.liver_weights or args.tumour_weights):
        raise LivsegInputError("--int8/--float32 pick among the shipped models; give your own "
                               "with --liver-weights/--tumour-weights FILE.onnx instead")
    check_writable_folder(args.out)
    torch_settings(args.backend, args.device, args.threads)
    if args.input.is_dir() and is_cohort(args.input):
        return _predict_cohort(args)
    if args.shard is not None:
        raise LivsegInputError("--shard splits a folder of cases; this is one case", args.input)
    # the models load before the CT is read: loading them in a thread while it is read
    # gained nothing on 2 cores (docs/speed.md)
    cascade = load_cascade(args)
    with _progress_bar(args.input.name, enabled=True) as progress:
        report = predict_file(args.input, args.out, cascade, overwrite=args.overwrite,
                              mesh=args.mesh, progress=progress, dicom_seg=args.dicom_seg,
                              series=args.series, limits=read_limits(args))
    print(printable(f"{args.input}: liver {report['liver_volume_ml']:.1f} ml, tumour "
                    f"{report['tumour_volume_ml']:.1f} ml in {report['lesion_count']} "
                    f"lesion(s); {report['seconds']['total']:.1f} s -> {args.out}/"))
    return 0


def _predict_cohort(args: argparse.Namespace) -> int:
    """A folder of cases (``livseg.cohort``): each not done yet, this shard's only; then
    ``summary.csv``. Exit 2 when a case failed."""
    from livseg.cohort import cohort_cases, is_done, run_cohort, shard_of, write_summary
    from livseg.predict import predict_file

    cases = cohort_cases(args.input, args.out)
    mine = shard_of(cases, args.shard)
    cascade = None
    if any(args.overwrite or not is_done(args.out, case) for case in mine):
        cascade = load_cascade(args)  # once: bad weights are one error, not one per case

    def predict(source, out):  # a case not done: a folder it left half-moved is redone
        return predict_file(source, out, cascade, overwrite=True, mesh=args.mesh,
                            dicom_seg=args.dicom_seg, series=args.series,
                            limits=read_limits(args))

    counts = run_cohort(mine, args.out, predict, overwrite=args.overwrite,
                        log=lambda line: print(line, file=sys.stderr
                                               if line.startswith("livseg: error") else
                                               sys.stdout))
    summary = write_summary(cases, args.out)
    shard = "" if args.shard is None else f" (shard {args.shard[0]}/{args.shard[1]})"
    print(f"{len(mine)} case(s){shard}: {counts['done']} done, {counts['skipped']} already "
          f"done, {counts['failed']} failed; {summary}")
    return 2 if counts["failed"] else 0


def load_cascade(args: argparse.Namespace):
    from livseg.infer import Cascade, CascadeSettings

    rules = {name: getattr(args, name) for name in (*LESION_RULES, "tumour_canvas")
             if getattr(args, name) is not None}
    if rules.get("grow_threshold") == 0:
        rules["grow_threshold"] = None  # 0: no growth
    settings = CascadeSettings(tta=args.tta, batch_size=args.batch_size, **rules)
    return Cascade.shipped(device=args.device, settings=settings,
                           liver_path=args.liver_weights, tumour_path=args.tumour_weights,
                           backend=args.backend, threads=args.threads,
                           int8=shipped_int8(args))


def torch_settings(backend: str, device: str, threads: int | None) -> None:
    """Threads and device checks for torch, only where torch will run (onnxruntime takes
    its threads per session): with the onnx backend torch is never imported."""
    if backend == "onnx" or (backend == "auto" and device == "cpu"
                             and onnxruntime_available()):
        return
    import torch

    if threads:
        torch.set_num_threads(threads)
    if device == "cuda" and not torch.cuda.is_available():
        raise LivsegInputError("--device cuda was asked for, but no CUDA device is available")


@contextlib.contextmanager
def _progress_bar(name: str, enabled: bool):
    """A tqdm bar over the cascade's two stages (only on a terminal)."""
    from tqdm import tqdm

    bar = tqdm(total=200, desc=name, unit="%", disable=not (enabled and sys.stderr.isatty()),
               bar_format="{desc}: {bar} {percentage:3.0f}% [{elapsed}<{remaining}]")
    offsets = {"liver": 0, "tumour": 100}

    def progress(step: str, fraction: float) -> None:
        bar.n = offsets.get(step, 0) + round(100 * fraction)
        bar.set_description(f"{name} ({step})")
        bar.refresh()

    try:
        yield progress
    finally:
        bar.close()


def _cmd_explain(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.overwrite:
        raise LivsegInputError("exists; use --overwrite to replace it", args.out)
    check_writable_folder(args.out)
    from livseg.infer import Cascade  # torch and matplotlib: after the output was checked
    from livseg.io.hu_check import read_ct
    from livseg.viz.explain import explain_slice

    volume = read_ct(args.input, limits=read_limits(args))
    weights = {"liver_path": args.liver_weights, "tumour_path": args.tumour_weights}
    cascade = Cascade.shipped(**weights, backend="torch")  # hooks and gradients: torch only
    # the liver of the whole volume as predict finds it (onnxruntime where it can)
    written = explain_slice(volume, cascade, args.slice, args.out,
                            locator=Cascade.shipped(**weights))
    print(f"slice {written['slice']}: {len(written['files'])} pictures in {args.out}/")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from livseg.demo import run_demo

    check_writable_folder(args.out)
    run_demo(args.out)
    return 0


def register(commands) -> None:
    predict = commands.add_parser("predict", help="segment the liver and tumours of CTs")
    predict.add_argument("input", type=Path, help="NIfTI/NRRD/MHA file, DICOM series folder, "
                                                  "or a folder of image files")
    predict.add_argument("-o", "--out", type=Path, required=True,
                         help="output folder (one subfolder per case for a folder of files)")
    predict.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True,
                         help="flip test-time augmentation: each network also sees the "
                              "flips it was trained with, and the answers are averaged "
                              "(default on; --no-tta runs each network once, about 10 %% "
                              "faster)")
    predict.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    predict.add_argument("--threads", type=thread_count, help="CPU threads for the networks")
    predict.add_argument("--backend", choices=BACKENDS, default="auto",
                         help="auto (default): onnxruntime on CPU when installed, else torch")
    predict.add_argument("--dicom-seg", action="store_true",
                         help="DICOM input: also write segmentation.dcm, a DICOM SEG")
    predict.add_argument("--series", metavar="UID",
                         help="the series to read from a DICOM folder holding several")
    add_precision_options(predict)
    predict.add_argument("--batch-size", type=bounded_int(1, 1024), default=8,
                         help="slices per batch (1-1024)")
    predict.add_argument("--mesh", choices=("stl", "ply"),
                         help="also write liver and tumour surfaces (patient mm)")
    # defaults: CascadeSettings' (not imported here: the parser stays light)
    predict.add_argument("--min-lesion-mm3", type=non_negative_float,
                         help="drop lesions smaller than this (default 100)")
    predict.add_argument("--tumour-threshold", type=probability_value,
                         help="tumour where the tumour stage's probability exceeds this "
                              "(default 0.6)")
    predict.add_argument("--min-lesion-probability", type=probability_value,
                         help="drop lesions whose mean tumour probability is below this "
                              "(default 0.8)")
    predict.add_argument("--grow-threshold", type=probability_value,
                         help="grow each kept lesion over the voxels connected to it whose "
                              "probability exceeds this, below --tumour-threshold; 0: no "
                              "growth (default 0.2)")
    predict.add_argument("--tumour-canvas", choices=CANVAS_MODES,
                         help="which tumour-stage passes see the liver's box centred on the "
                              "network's training size, as in training: none, all, flipped "
                              "(the flipped pass: two placements as well as two flips; "
                              "default) or both (each flip both ways: twice the tumour "
                              "stage's time, better on the pooled out-of-fold table)")
    predict.add_argument("--shard", type=shard_spec, metavar="I/N",
                         help="a folder of cases: only every N-th case from the I-th (0-based),"
                              " for job arrays (sbatch --array=0-(N-1))")
    predict.add_argument("--overwrite", action="store_true",
                         help="replace the results already in the output folder")
    predict.add_argument("--liver-weights", type=Path,
                         help="checkpoint (.pt) or exported model (.onnx) instead of the shipped")
    predict.add_argument("--tumour-weights", type=Path,
                         help="checkpoint (.pt) or exported model (.onnx) instead of the shipped")
    add_max_voxels(predict)
    predict.set_defaults(run=_cmd_predict)

    explain = commands.add_parser("explain", help="feature maps and Grad-CAM of one slice")
    explain.add_argument("input", type=Path, help="NIfTI/NRRD/MHA file or DICOM series folder")
    explain.add_argument("--slice", type=bounded_int(0),
                         help="canonical axial slice, counted from the feet (default: the one "
                              "with most liver)")
    explain.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    explain.add_argument("--overwrite", action="store_true")
    explain.add_argument("--liver-weights", type=Path)
    explain.add_argument("--tumour-weights", type=Path)
    add_max_voxels(explain)
    explain.set_defaults(run=_cmd_explain)

    demo = commands.add_parser("demo", help="run the main job on built-in data")
    demo.add_argument("--out", type=Path, default=Path("livseg-demo"))
    demo.set_defaults(run=_cmd_demo)
