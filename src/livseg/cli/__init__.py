"""The ``livseg`` command line: parses arguments and calls the API, nothing more.

One module per group of commands; each registers its subcommands. Exit codes: 0 success,
2 bad input or arguments (one line on stderr), 1 a bug.
"""
from __future__ import annotations

import argparse
import logging
import sys

from livseg import __version__
from livseg.cli import deploy, inference, scoring, training
from livseg.cli.common import Parser
from livseg.errors import LivsegInputError

log = logging.getLogger("livseg")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="livseg", description="Liver and liver-tumour segmentation in CT.")
    parser.add_argument("--version", action="version", version=f"livseg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in (scoring, training, inference, deploy):
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
        print(f"livseg: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("livseg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
