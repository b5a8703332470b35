"""The ``livseg`` command line: parses arguments and calls the API, nothing more.

Exit codes: 0 success, 2 bad input or arguments (one line on stderr), 1 a bug.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

from livseg import __version__
from livseg.errors import LivsegInputError
from livseg.infer.runners import BACKENDS, onnxruntime_available

log = logging.getLogger("livseg")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from livseg.io.text import write_csv, write_json
    from livseg.metrics import evaluate_files, evaluation_report
    from livseg.metrics.table import flat_rows, format_table

    if (args.images is None) != (args.pictures is None):
        raise LivsegInputError("--images and --pictures go together")
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

    volume = read_volume(args.input)
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

    phantom = make_phantom(shape=tuple(args.shape), spacing=tuple(args.spacing),
                           n_tumours=args.tumours, seed=args.seed)
    write_volume(phantom.ct, args.out / "volume.nii.gz")
    write_volume(phantom.labels, args.out / "segmentation.nii.gz")
    print(f"wrote {args.out}/volume.nii.gz and segmentation.nii.gz "
          f"({len(phantom.tumours)} tumours)")
    return 0


def _train_config(args: argparse.Namespace):
    from livseg.train.checkpoint import read_checkpoint
    from livseg.train.config import TrainConfig

    if args.resume:  # the run's own recipe; only how long and where may change
        recipe = read_checkpoint(args.out / "last.pt")["training"]["recipe"]
        changes = {"epochs": args.epochs, "device": args.device, "threads": args.threads,
                   "patience": args.patience}
        return TrainConfig(**{**recipe, **{k: v for k, v in changes.items() if v is not None}})
    overrides = {"stage": args.stage, "arch": args.arch, "data": args.data,
                 "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                 "seed": args.seed, "device": args.device, "threads": args.threads,
                 "init_from": str(args.init_from) if args.init_from else None,
                 "max_steps_per_epoch": args.max_steps, "patience": args.patience}
    if args.config:
        return TrainConfig.from_file(args.config, **overrides)
    return TrainConfig(**{k: v for k, v in overrides.items() if v is not None})


def _stop_training(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _cmd_train(args: argparse.Namespace) -> int:
    import signal

    from livseg.train.loop import train

    # SIGTERM (schedulers, torchrun) and SIGINT (Ctrl-C, also when started in the
    # background, where the shell ignores it) both save and stop
    signal.signal(signal.SIGTERM, _stop_training)
    signal.signal(signal.SIGINT, _stop_training)

    if not args.resume and args.data is None and args.config is None:
        raise LivsegInputError("--data (or --config) is needed unless --resume")
    if args.resume and not (args.out / "last.pt").exists():
        raise LivsegInputError("has no last.pt to resume from", args.out)
    if not args.resume and (args.out / "last.pt").exists():
        raise LivsegInputError("already holds a run (last.pt); use --resume to continue it "
                               "or choose another --out", args.out)
    config = _train_config(args)
    last = train(config, args.out, resume=args.resume)
    if last:
        print(f"epoch {last['epoch']}: validation Dice {last['val_dice']:.4f}, "
              f"accuracy {last['val_accuracy']:.4f}, sensitivity {last['val_sensitivity']:.4f}, "
              f"specificity {last['val_specificity']:.4f}; run in {args.out}/")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from livseg.train.sources import load_data

    data = load_data(args.data, stage=args.stage, window=tuple(args.window),
                     size=(args.size, args.size), seed=args.seed, pixel_mm=args.pixel_mm)
    data.save(args.out)
    print(f"wrote {args.out}: {len(data)} slices of {data.size[0]}x{data.size[1]} from "
          f"{len(set(data.volume_ids.tolist()))} volumes (window {data.window} HU)")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from livseg.infer import Cascade, CascadeSettings
    from livseg.predict import case_inputs, case_name, predict_file

    if not args.input.exists():
        raise LivsegInputError("does not exist", args.input)
    if args.int8 and (args.liver_weights or args.tumour_weights):
        raise LivsegInputError("--int8 picks the shipped int8 models; give your own with "
                               "--liver-weights/--tumour-weights FILE.int8.onnx instead")
    _torch_settings(args.backend, args.device, args.threads)
    cases = case_inputs(args.input)
    cascade = Cascade.shipped(device=args.device, settings=CascadeSettings(
        tta=args.tta, batch_size=args.batch_size, min_lesion_mm3=args.min_lesion_mm3),
        liver_path=args.liver_weights, tumour_path=args.tumour_weights,
        backend=args.backend, threads=args.threads, int8=args.int8)
    failures = 0
    for case in cases:
        out = args.out / case_name(case) if len(cases) > 1 else args.out
        try:
            with _progress_bar(case_name(case), enabled=len(cases) == 1) as progress:
                report = predict_file(case, out, cascade, overwrite=args.overwrite,
                                      mesh=args.mesh, progress=progress,
                                      dicom_seg=args.dicom_seg, series=args.series)
        except LivsegInputError as error:
            if len(cases) == 1:
                raise
            failures += 1
            print(f"livseg: error: {error}", file=sys.stderr)
            continue
        print(f"{case}: liver {report['liver_volume_ml']:.1f} ml, tumour "
              f"{report['tumour_volume_ml']:.1f} ml in {report['lesion_count']} lesion(s); "
              f"{report['seconds']['total']:.1f} s -> {out}/")
    return 2 if failures else 0


def _torch_settings(backend: str, device: str, threads: int | None) -> None:
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
    from livseg.infer import Cascade
    from livseg.io import read_volume
    from livseg.viz.explain import explain_slice

    if args.out.exists() and not args.overwrite:
        raise LivsegInputError("exists; use --overwrite to replace it", args.out)
    volume = read_volume(args.input)
    cascade = Cascade.shipped(liver_path=args.liver_weights, tumour_path=args.tumour_weights,
                              backend="torch")  # gradients: torch only
    written = explain_slice(volume, cascade, args.slice, args.out)
    print(f"slice {written['slice']}: {len(written['files'])} pictures in {args.out}/")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from livseg.export import export_cascade

    if args.out.exists() and not args.overwrite:
        raise LivsegInputError("exists; use --overwrite to replace it", args.out)
    for item in export_cascade(args.out, args.liver_weights, args.tumour_weights,
                               int8=args.int8, calibration=args.calibration):
        check = item["check"]
        real = (f", mask Dice vs torch on {check['real_slices']} real slices "
                f"{check['foreground_dice_vs_torch']:.4f}" if "real_slices" in check else "")
        print(f"{args.out}/{item['file']}: opset {item['opset']}, {item['precision']}, "
              f"onnxruntime vs torch: max |logit difference| "
              f"{check['max_abs_logit_difference']:.2e}, argmax agreement "
              f"{check['argmax_agreement']:.4f}{real}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from livseg.bench import format_bench, run_bench
    from livseg.io.text import write_json

    if args.ct is not None and not args.ct.exists():
        raise LivsegInputError("does not exist", args.ct)
    result = run_bench(archs=args.archs, size=args.size, batch=args.batch,
                       seconds=args.seconds, threads=args.threads, ct=args.ct,
                       cascade_slices=args.cascade_slices, large_slices=args.large_slices,
                       repeats=args.repeats, log=lambda line: print(line, file=sys.stderr))
    print(format_bench(result))
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from livseg.serve import ServeSettings, create_app
    except ImportError as error:
        raise LivsegInputError(f"livseg serve needs {error.name} (pip install fastapi uvicorn "
                               "python-multipart)"
                               ) from None
    app = create_app(ServeSettings(max_upload_mb=args.max_upload_mb, workers=args.workers,
                                   ttl_s=args.ttl_minutes * 60, backend=args.backend,
                                   threads=args.threads))
    print(f"livseg serve: http://{args.host}:{args.port}/ (API: /docs)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from livseg.demo import run_demo

    run_demo(args.out)
    return 0


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="livseg", description="Liver and liver-tumour segmentation in CT.")
    parser.add_argument("--version", action="version", version=f"livseg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

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
    info.set_defaults(run=_cmd_info)

    phantom = commands.add_parser("phantom", help="write a synthetic abdominal CT and labels")
    phantom.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    phantom.add_argument("--shape", type=int, nargs=3, default=(48, 128, 128),
                         metavar=("Z", "Y", "X"))
    phantom.add_argument("--spacing", type=_positive_float, nargs=3, default=(2.5, 2.5, 5.0),
                         metavar=("SX", "SY", "SZ"), help="voxel size in mm (x y z)")
    phantom.add_argument("--tumours", type=int, default=3)
    phantom.add_argument("--seed", type=int, default=0)
    phantom.set_defaults(run=_cmd_phantom)

    train = commands.add_parser("train", help="train one stage of the cascade")
    train.add_argument("--stage", choices=("liver", "tumour"))
    train.add_argument("--arch", choices=("mobileunet", "unet", "resunet"))
    train.add_argument("--data", help="phantom[:N], a slice folder, LiTS/MSD folder, .npz "
                                      "cache; join several with +")
    train.add_argument("--out", type=Path, required=True, help="run folder")
    train.add_argument("--config", type=Path, help="JSON file of TrainConfig settings")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", choices=("auto", "cpu", "cuda"))
    train.add_argument("--threads", type=int)
    train.add_argument("--max-steps", type=int, help="cap the batches per epoch")
    train.add_argument("--patience", type=int,
                       help="stop after this many epochs without a better validation Dice")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--init-from", type=Path, help="start from a checkpoint's weights")
    train.set_defaults(run=_cmd_train)

    predict = commands.add_parser("predict", help="segment the liver and tumours of CTs")
    predict.add_argument("input", type=Path, help="NIfTI/NRRD/MHA file, DICOM series folder, "
                                                  "or a folder of image files")
    predict.add_argument("-o", "--out", type=Path, required=True,
                         help="output folder (one subfolder per case for a folder of files)")
    predict.add_argument("--tta", action="store_true", help="flip test-time augmentation")
    predict.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    predict.add_argument("--threads", type=int, help="CPU threads for the networks")
    predict.add_argument("--backend", choices=BACKENDS, default="auto",
                         help="auto (default): onnxruntime on CPU when installed, else torch")
    predict.add_argument("--dicom-seg", action="store_true",
                         help="DICOM input: also write segmentation.dcm, a DICOM SEG")
    predict.add_argument("--series", metavar="UID",
                         help="the series to read from a DICOM folder holding several")
    predict.add_argument("--int8", action="store_true",
                         help="the shipped int8 models (onnxruntime): about 2x faster networks")
    predict.add_argument("--batch-size", type=int, default=8, help="slices per batch")
    predict.add_argument("--mesh", choices=("stl", "ply"),
                         help="also write liver and tumour surfaces (patient mm)")
    predict.add_argument("--min-lesion-mm3", type=float, default=20.0,
                         help="drop tumour components smaller than this")
    predict.add_argument("--overwrite", action="store_true",
                         help="replace the results already in the output folder")
    predict.add_argument("--liver-weights", type=Path,
                         help="checkpoint (.pt) or exported model (.onnx) instead of the shipped")
    predict.add_argument("--tumour-weights", type=Path,
                         help="checkpoint (.pt) or exported model (.onnx) instead of the shipped")
    predict.set_defaults(run=_cmd_predict)

    explain = commands.add_parser("explain", help="feature maps and Grad-CAM of one slice")
    explain.add_argument("input", type=Path, help="NIfTI/NRRD/MHA file or DICOM series folder")
    explain.add_argument("--slice", type=int, help="canonical axial slice, counted from the "
                                                   "feet (default: the one with most liver)")
    explain.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    explain.add_argument("--overwrite", action="store_true")
    explain.add_argument("--liver-weights", type=Path)
    explain.add_argument("--tumour-weights", type=Path)
    explain.set_defaults(run=_cmd_explain)

    export = commands.add_parser("export", help="both stages to ONNX, checked against torch")
    export.add_argument("--out", type=Path, required=True, help="output folder")
    export.add_argument("--overwrite", action="store_true")
    export.add_argument("--liver-weights", type=Path)
    export.add_argument("--tumour-weights", type=Path)
    export.add_argument("--int8", action="store_true",
                        help="also int8 models (static quantisation calibrated on real slices)")
    export.add_argument("--calibration", metavar="DATA",
                        help="--data spec for the int8 calibration (default: the data each "
                             "stage was trained on, as its checkpoint records)")
    export.set_defaults(run=_cmd_export)

    bench = commands.add_parser("bench", help="size, speed and memory of the networks and "
                                              "the cascade on this machine")
    bench.add_argument("--json", type=Path, help="also write the results as JSON")
    bench.add_argument("--archs", nargs="+", choices=("mobileunet", "unet", "resunet"),
                       default=["mobileunet", "unet", "resunet"])
    bench.add_argument("--size", type=int, default=256, help="slice size of the network runs")
    bench.add_argument("--batch", type=int, default=4, help="slices per timed batch")
    bench.add_argument("--seconds", type=_positive_float, default=3.0,
                       help="time spent per network and engine")
    bench.add_argument("--threads", type=int, help="default: every usable core")
    bench.add_argument("--ct", type=Path, help="time the cascade on this CT instead of a "
                                               "512x512x150 phantom")
    bench.add_argument("--cascade-slices", type=int, default=150,
                       help="slices of the phantom CT for the cascade timing (0: skip)")
    bench.add_argument("--large-slices", type=int, default=1000,
                       help="slices of the phantom CT for the memory check (0: skip)")
    bench.add_argument("--repeats", type=int, default=3, help="cascade runs (median kept)")
    bench.set_defaults(run=_cmd_bench)

    serve = commands.add_parser("serve", help="the web app: upload page, viewer, job API")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-upload-mb", type=_positive_float, default=1024.0)
    serve.add_argument("--workers", type=int, default=1, help="jobs segmented at once")
    serve.add_argument("--ttl-minutes", type=_positive_float, default=60.0,
                       help="finished jobs' files are deleted after this long")
    serve.add_argument("--backend", choices=BACKENDS, default="auto")
    serve.add_argument("--threads", type=int, help="CPU threads for the networks")
    serve.set_defaults(run=_cmd_serve)

    prepare = commands.add_parser("prepare", help="cache training slices as one .npz")
    prepare.add_argument("--data", required=True)
    prepare.add_argument("--stage", choices=("liver", "tumour"), default="liver")
    prepare.add_argument("--out", type=Path, required=True, help="the .npz to write")
    prepare.add_argument("--size", type=int, default=256)
    prepare.add_argument("--window", type=float, nargs=2, default=(0.0, 255.0))
    prepare.add_argument("--seed", type=int, default=0)
    prepare.add_argument("--pixel-mm", type=float, default=None,
                         help="tumour stage: in-plane pixel size of the liver region")
    prepare.set_defaults(run=_cmd_prepare)

    demo = commands.add_parser("demo", help="run the main job on built-in data")
    demo.add_argument("--out", type=Path, default=Path("livseg-demo"))
    demo.set_defaults(run=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbose = args.verbose or args.command == "train"
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except LivsegInputError as error:
        print(f"livseg: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("livseg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
