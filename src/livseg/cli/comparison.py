"""``compare``: each lesion followed from a baseline scan to a follow-up, and the response."""
from __future__ import annotations

import argparse
from pathlib import Path

from livseg.cli.common import (
    add_max_voxels,
    add_precision_options,
    non_negative_float,
    positive_float,
    read_limits,
    thread_count,
)
from livseg.cli.inference import load_cascade, torch_settings
from livseg.errors import printable
from livseg.infer.runners import BACKENDS
from livseg.io.text import check_writable_folder


def _cmd_compare(args: argparse.Namespace) -> int:
    from livseg.compare import compare_scans
    from livseg.predict import predict_case

    check_writable_folder(args.out)
    cascade = None

    def predict(ct: Path, folder: Path):
        nonlocal cascade
        if cascade is None:  # only when a scan is a CT, not a predict folder
            torch_settings(args.backend, "cpu", args.threads)
            cascade = load_cascade(args)
        return predict_case(ct, folder, cascade, limits=read_limits(args))

    comparison = compare_scans(args.baseline, args.followup, args.out, predict,
                               overwrite=args.overwrite,
                               match_distance_mm=args.match_distance_mm,
                               stable_percent=args.stable_percent,
                               whole_liver=not args.partial_liver, limits=read_limits(args))
    counts: dict[str, int] = {}
    for track in comparison["tracks"]:
        counts[track["status"]] = counts.get(track["status"], 0) + 1
    volume = comparison["response"]["volumetric"]["tumour_volume_ml"]
    print(printable(
        f"{len(comparison['tracks'])} lesion track(s): "
        + (", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none")
        + f"; tumour {volume['baseline']:.1f} -> {volume['followup']:.1f} ml; RECIST 1.1 "
        f"{comparison['response']['recist']['category']}, volumetric "
        f"{comparison['response']['volumetric']['category']}; registration liver Dice "
        f"{comparison['registration']['liver_dice']:.3f} -> {args.out}/"))
    return 0


def register(commands) -> None:
    compare = commands.add_parser(
        "compare", help="follow each lesion from a baseline CT to a follow-up (RECIST 1.1 "
                        "and volume)")
    compare.add_argument("baseline", type=Path,
                         help="the earlier scan: a CT (as predict takes) or a predict folder")
    compare.add_argument("followup", type=Path, help="the later scan, likewise")
    compare.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    compare.add_argument("--match-distance-mm", type=positive_float, default=10.0,
                         help="lesions that overlap nothing after registration are matched "
                              "when their centroids are this close (default 10)")
    compare.add_argument("--stable-percent", type=non_negative_float, default=20.0,
                         help="a lesion whose volume changed less than this is stable "
                              "(default 20)")
    compare.add_argument("--partial-liver", action="store_true",
                         help="compare even when a scan cuts the liver off")
    compare.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True,
                         help="flip test-time augmentation when segmenting (default on)")
    compare.add_argument("--threads", type=thread_count, help="CPU threads for the networks")
    compare.add_argument("--backend", choices=BACKENDS, default="auto")
    add_precision_options(compare)
    compare.add_argument("--overwrite", action="store_true",
                         help="replace the output folder")
    add_max_voxels(compare)
    compare.set_defaults(run=_cmd_compare, device="cpu", batch_size=8, liver_weights=None,
                         tumour_weights=None, min_lesion_mm3=None, tumour_threshold=None,
                         min_lesion_probability=None, grow_threshold=None,
                         tumour_canvas=None)
