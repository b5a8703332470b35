"""Errors that livseg reports to its users."""
from __future__ import annotations

from pathlib import Path


def printable(text: str) -> str:
    """``text`` with control characters (a newline or an ANSI escape in a file name) shown
    as escapes, so that a message stays one line and cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class LivsegInputError(Exception):
    """Bad input: a file or argument livseg cannot use.

    The message names the file (when there is one) and the problem in one line; the CLI
    prints it on stderr and exits with code 2.
    """

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")
