"""Errors that livseg reports to its users."""
from __future__ import annotations

from pathlib import Path


class LivsegInputError(Exception):
    """Bad input: a file or argument livseg cannot use.

    The message names the file (when there is one) and the problem in one line; the CLI
    prints it on stderr and exits with code 2.
    """

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")
