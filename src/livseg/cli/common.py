"""What the command modules share: the parser that fails in one line, argument types that
refuse a bad number at the parser (exit 2), the read limits."""
from __future__ import annotations

import argparse
import math
import os

from livseg.errors import LivsegInputError
from livseg.io.limits import MAX_VOXELS, ReadLimits, check_spacing


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def bounded_int(low: int, high: int | None = None):
    """An argument type: an integer in [low, high]."""
    def parse(text: str) -> int:
        value = _number(text, int)
        if value < low or (high is not None and value > high):
            span = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be an integer {span}, got {text}")
        return value
    parse.__name__ = "integer"
    return parse


def positive_float(text: str) -> float:
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def probability_value(text: str) -> float:
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1), got {text}")
    return value


def spacing_mm(text: str) -> float:
    """One voxel size in mm: positive and at most the largest spacing livseg reads."""
    value = positive_float(text)
    try:
        check_spacing((value, value, value))
    except LivsegInputError as error:
        raise argparse.ArgumentTypeError(error.problem.replace("has a", "is a")) from None
    return value


positive_int = bounded_int(1)
#: CPU threads for the networks: beyond a few per core they only cost (100,000 crashed
#: onnxruntime after a minute).
MAX_THREADS = 4 * max(4, os.cpu_count() or 1)
thread_count = bounded_int(1, MAX_THREADS)
port_number = bounded_int(1, 65535)


def add_max_voxels(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-voxels", type=bounded_int(1), default=MAX_VOXELS,
                        help=f"refuse a CT declaring more voxels than this (default "
                             f"{MAX_VOXELS:,}); checked from the header before reading")


def read_limits(args: argparse.Namespace) -> ReadLimits:
    return ReadLimits(max_voxels=args.max_voxels)


__all__ = ["Parser", "add_max_voxels", "bounded_int", "non_negative_float", "port_number",
           "thread_count",
           "positive_float", "positive_int", "read_limits", "spacing_mm"]


def add_precision_options(parser: argparse.ArgumentParser) -> None:
    """``--int8`` / ``--float32``: which of the shipped models run (default: the liver
    stage int8, the tumour stage float32, on onnxruntime; ``DEFAULT_INT8``)."""
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--int8", action="store_true",
                           help="both stages' shipped int8 models (onnxruntime)")
    precision.add_argument("--float32", action="store_true",
                           help="both stages' shipped float32 models (default: the liver "
                                "stage int8, the tumour stage float32)")


def shipped_int8(args: argparse.Namespace) -> bool | None:
    """``Cascade.shipped``'s ``int8`` for the precision options: True, False or None
    (the default per stage)."""
    return True if args.int8 else False if args.float32 else None


def shard_spec(text: str) -> tuple[int, int]:
    """``I/N`` with 0 <= I < N: a shard of a cohort (argparse type)."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N, like 0/4 (got {text!r})") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"needs 0 <= I < N (got {text!r})")
    return index, count
