"""``egressguard render`` (being written)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    subparsers.add_parser("render", help="render the rules into data-plane configuration")


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError
