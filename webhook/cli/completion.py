"""``egressguard completion SHELL``: the shell completion script, generated from the same
parser the command uses (by shtab), so it never lags behind the options."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import shtab

from webhook.cli.options import subcommand

SHELLS = ("bash", "zsh", "tcsh")
DESCRIPTION = """\
Print a completion script for your shell: commands, options, their choices, and files or
folders where an option takes a path. Load it once per shell, or install it where your
shell reads completions."""


def add_parser(subparsers: Any) -> None:
    parser = subcommand(
        subparsers, "completion", summary="print a shell completion script",
        description=DESCRIPTION,
        example_lines=(
            'eval "$(egressguard completion bash)"',
            "egressguard completion bash > /etc/bash_completion.d/egressguard",
            'egressguard completion zsh > "${fpath[1]}/_egressguard"',
        ),
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    from webhook.cli.main import build_parser  # the whole command line, this one included

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return 0
