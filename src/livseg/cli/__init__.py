"""The ``livseg`` command line: parses arguments and calls the API, nothing more.

One module per group of commands; each registers its subcommands. Exit codes: 0 success,
2 bad input or arguments (one line on stderr), 1 a bug.
"""
from __future__ import annotations

import argparse
import errno
import logging
import sys

from livseg._version import __version__
from livseg.cli import comparison, deploy, inference, scoring, training
from livseg.cli.common import Parser
from livseg.errors import LivsegInputError, printable

log = logging.getLogger("livseg")

#: What ``pip install livseg[train]`` adds: training, export, explanations, ``--backend
#: torch`` and ``livseg bench`` need them; ``predict``, ``serve``, ``demo`` do not.
TRAIN_EXTRA = ("torch", "matplotlib", "onnx")

#: OS errors that come from the user's files and disks, not from a bug: exit 2.
EXPECTED_OS_ERRORS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS,
                      errno.EFBIG, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                      errno.ENAMETOOLONG, errno.ENOTEMPTY, errno.EIO, errno.ELOOP,
                      errno.EMFILE, errno.ENFILE}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="livseg", description="Liver and liver-tumour segmentation in CT.")
    parser.add_argument("--version", action="version", version=f"livseg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in (scoring, training, inference, comparison, deploy):
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbose = args.verbose or args.command == "train"
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except LivsegInputError as error:
        print(f"livseg: error: {printable(str(error))}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in EXPECTED_OS_ERRORS:
            raise
        print(f"livseg: error: {printable(_describe_os_error(error))}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        if error.name not in TRAIN_EXTRA:
            raise
        print(f"livseg: error: `livseg {args.command}` needs {error.name}, which the plain "
              "install leaves out (inference runs on onnxruntime): pip install "
              "'livseg[train]'", file=sys.stderr)
        return 2
    except MemoryError:
        print("livseg: error: not enough memory for this input on this machine "
              "(see --max-voxels)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("livseg: interrupted", file=sys.stderr)
        return 130


def _describe_os_error(error: OSError) -> str:
    """One line: the file, then what the system said (no traceback)."""
    reason = error.strerror or str(error)
    if error.errno == errno.EFBIG:
        reason += " (the disk or a file-size limit is full)"
    return f"{error.filename}: {reason}" if error.filename else reason


if __name__ == "__main__":
    sys.exit(main())
