"""``export``, ``bench`` and ``serve``: ONNX files, measurements, the web app."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from livseg.cli.common import (
    add_max_voxels,
    bounded_int,
    port_number,
    positive_float,
    thread_count,
)
from livseg.errors import LivsegInputError
from livseg.infer.runners import BACKENDS
from livseg.io.text import check_writable_folder


def _cmd_export(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.overwrite:
        raise LivsegInputError("exists; use --overwrite to replace it", args.out)
    check_writable_folder(args.out)
    from livseg.export import export_cascade  # torch and onnx: after the output was checked

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
    if args.json:
        check_writable_folder(args.json.parent)
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

        from livseg.serve import LOOPBACK_HOSTS, ServeSettings, create_app
    except ImportError as error:
        raise LivsegInputError(f"livseg serve needs {error.name} (pip install fastapi uvicorn "
                               "python-multipart)"
                               ) from None
    hosts = (*LOOPBACK_HOSTS, *([args.host] if args.host not in ("0.0.0.0", "::") else []),
             *args.allowed_host)
    app = create_app(ServeSettings(max_upload_mb=args.max_upload_mb, workers=args.workers,
                                   ttl_s=args.ttl_minutes * 60, backend=args.backend,
                                   threads=args.threads, max_voxels=args.max_voxels,
                                   allowed_hosts=tuple(dict.fromkeys(hosts))))
    print(f"livseg serve: http://{args.host}:{args.port}/ (API: /docs)", file=sys.stderr)
    from livseg.serve.protocol import HeaderDeadlineProtocol

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                http=HeaderDeadlineProtocol)
    return 0


def register(commands) -> None:
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
    bench.add_argument("--size", type=bounded_int(32, 2048), default=256,
                       help="slice size of the network runs")
    bench.add_argument("--batch", type=bounded_int(1, 256), default=4,
                       help="slices per timed batch")
    bench.add_argument("--seconds", type=positive_float, default=3.0,
                       help="time spent per network and engine")
    bench.add_argument("--threads", type=thread_count, help="default: every usable core")
    bench.add_argument("--ct", type=Path, help="time the cascade on this CT instead of a "
                                               "512x512x150 phantom")
    bench.add_argument("--cascade-slices", type=bounded_int(0, 4096), default=150,
                       help="slices of the phantom CT for the cascade timing (0: skip)")
    bench.add_argument("--large-slices", type=bounded_int(0, 4096), default=1000,
                       help="slices of the phantom CT for the memory check (0: skip)")
    bench.add_argument("--repeats", type=bounded_int(1, 100), default=3,
                       help="cascade runs (median kept)")
    bench.set_defaults(run=_cmd_bench)

    serve = commands.add_parser("serve", help="the web app: upload page, viewer, job API")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: this machine only)")
    serve.add_argument("--port", type=port_number, default=8000)
    serve.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                       help="a Host name the server answers besides the loopback names (and "
                            "--host); repeat for several")
    serve.add_argument("--max-upload-mb", type=positive_float, default=1024.0)
    serve.add_argument("--workers", type=bounded_int(1, 64), default=1,
                       help="jobs segmented at once")
    serve.add_argument("--ttl-minutes", type=positive_float, default=60.0,
                       help="finished jobs' files are deleted after this long")
    serve.add_argument("--backend", choices=BACKENDS, default="auto")
    serve.add_argument("--threads", type=thread_count, help="CPU threads for the networks")
    add_max_voxels(serve)
    serve.set_defaults(run=_cmd_serve)
