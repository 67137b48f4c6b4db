"""The spellings and checks every subcommand shares, so the commands read alike:

- ``-o/--output FORMAT`` chooses an output format, in every command that has more than one;
- ``--out DIR`` names a folder to write files into (``render``, ``certs``);
- ports, counts, durations and paths are checked while parsing, and a wrong one is refused
  with a message that says what was expected (exit 2);
- path arguments tell shell completion what to complete (files or folders).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import shtab

# What shell completion offers for an argument (shtab's per-shell completion actions).
Completion = Mapping[str, Any]
FILE: Completion = shtab.FILE
DIRECTORY: Completion = shtab.DIRECTORY


def examples(*lines: str) -> str:
    """An epilog: a few example command lines, shown after the options."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def subcommand(subparsers: Any, name: str, *, summary: str, description: str,
               example_lines: Sequence[str]) -> argparse.ArgumentParser:
    """A subcommand's parser with its one-line summary, description and examples."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=summary, description=description, epilog=examples(*example_lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


class _DeprecatedFormat(argparse.Action):
    """``--format X``, the former spelling of ``-o/--output X``: still works, says so."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(f"{parser.prog}: --format is now -o/--output; --format will be removed",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_output(parser: argparse.ArgumentParser, formats: Sequence[str], *, default: str,
               described: str) -> None:
    """``-o/--output FORMAT``; ``described`` says what each format is for."""
    parser.add_argument("-o", "--output", choices=formats, default=default, metavar="FORMAT",
                        help=f"{described} (one of {', '.join(formats)}; default {default})")
    parser.add_argument("--format", dest="output", choices=formats, action=_DeprecatedFormat,
                        help=argparse.SUPPRESS)


def add_out_dir(parser: argparse.ArgumentParser, *, described: str,
                required: bool = False) -> None:
    """``--out DIR``: a folder to write files into."""
    action = parser.add_argument("--out", type=Path, metavar="DIR", required=required,
                                 help=described)
    action.complete = DIRECTORY  # type: ignore[attr-defined]


def complete(action: argparse.Action, kind: Completion) -> argparse.Action:
    """Tells shell completion what ``action`` takes (FILE or DIRECTORY)."""
    action.complete = kind  # type: ignore[attr-defined]
    return action


# -- values checked while parsing -------------------------------------------------------


def port_number(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port: give a number 1-65535")
    return port


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of 1 or more")
    return number


def non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of 0 or more")
    return number


def seconds(value: str) -> float:
    """A duration in seconds, 0 or more (``5``, ``0.5``)."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < 86400:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds (e.g. 5 or 0.5)")
    return number


def positive_seconds(value: str) -> float:
    number = seconds(value)
    if number == 0:
        raise argparse.ArgumentTypeError(f"{value!r}: give more than 0 seconds")
    return number


def existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "missing"
        raise argparse.ArgumentTypeError(f"{value}: expected a file, but it is {what}")
    return path


def existing_file_name(value: str) -> str:
    """As :func:`existing_file`, kept as the text given (for libraries that want a str)."""
    existing_file(value)
    return value


def existing_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        what = "a file" if path.exists() else "missing"
        raise argparse.ArgumentTypeError(f"{value}: expected a folder, but it is {what}")
    return path


def existing_path(value: str) -> Path:
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{value}: no such file or folder")
    return path
