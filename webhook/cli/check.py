"""``egressguard check [DIR]``: lint a rules repository for a pull request.

Thin by design: it loads the repository with the same loader the webhook uses (so a change
that passes here loads in the cluster), adds the warnings that need today's date, and prints
them for a person (``text``), for GitHub's pull request view (``github``) or for a script
(``json``). Exit 1 when there are errors, 0 otherwise, 2 when DIR is not a folder: warnings
never fail a check, so a team can adopt it before fixing every old grant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from webhook.cli.moments import now_option, now_or_clock
from webhook.loader import LoadResult, Problem, RulesError, Severity, load_repository
from webhook.loader.lint import (
    DEFAULT_EXPIRY_WARNING_DAYS,
    DEFAULT_MAX_GRANTEES,
    expiry_warnings,
    reason_warnings,
    usage_warnings,
)
from webhook.loader.problems import sort_problems
from webhook.loader.repository import display_root
from webhook.loader.versions import deprecation_warnings

FORMATS = ("text", "github", "json")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="lint a rules repository (exit 1 on errors)",
        description="Check a rules repository: every error with its file and line.",
    )
    parser.add_argument("dir", nargs="?", default="rules", metavar="DIR", help="default: rules")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (path:line: error: message), github (workflow annotations) or json",
    )
    parser.add_argument(
        "--expiry-warning-days",
        type=_days,
        default=DEFAULT_EXPIRY_WARNING_DAYS,
        metavar="N",
        help=f"warn about grants and exceptions expiring within N days "
        f"(default {DEFAULT_EXPIRY_WARNING_DAYS})",
    )
    parser.add_argument(
        "--max-grantees",
        type=_count,
        default=DEFAULT_MAX_GRANTEES,
        metavar="N",
        help=f"warn about a restricted destination granted to more than N identities "
        f"(default {DEFAULT_MAX_GRANTEES})",
    )
    parser.add_argument(
        "--now",
        type=now_option,
        default=None,
        help="judge expiry at this time (ISO 8601; default: now), for reproducible runs",
    )


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = -1
    if days < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days (0 or more)")
    return days


def _count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of identities (1 or more)")
    return count


def check_repository(
    directory: str,
    *,
    now: datetime,
    expiry_warning_days: int,
    own_namespace: str | None,
    max_grantees: int = DEFAULT_MAX_GRANTEES,
) -> tuple[tuple[Problem, ...], LoadResult | None]:
    """Every problem in the repository, and the load result when it loads."""
    root = display_root(directory)
    deprecated = deprecation_warnings(
        directory, show=lambda rel: f"{root}/{rel}" if root else rel)
    try:
        result = load_repository(directory, own_namespace=own_namespace)
    except RulesError as error:
        return sort_problems((*error.problems, *deprecated)), None
    dated = expiry_warnings(result.policy, now=now, window_days=expiry_warning_days)
    usage = usage_warnings(result.policy, now=now, max_grantees=max_grantees)
    reasons = reason_warnings(result.policy)
    return sort_problems(
        (*result.warnings, *result.notes, *reasons, *dated, *usage, *deprecated)), result


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(problem: Problem) -> str:
    """A workflow command: GitHub shows it on the file and line in the pull request."""
    return (
        f"::{problem.severity.value} file={_escape_property(problem.path)},"
        f"line={problem.line}::{_escape_data(problem.message)}"
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(directory: str, problems: Sequence[Problem], result: LoadResult | None) -> str:
    errors = sum(1 for p in problems if p.severity is Severity.ERROR)
    warnings = len(problems) - errors
    counts = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    if result is None:
        return f"{directory}: {counts}; the rules do not load"
    policy = result.policy
    return (
        f"{directory}: {counts}; {_plural(len(policy.destinations), 'destination')}, "
        f"{_plural(len(policy.grants), 'grant')}, "
        f"{_plural(len(policy.exceptions), 'exception')} (revision {policy.revision})"
    )


def report(
    problems: Sequence[Problem],
    *,
    output_format: str,
    directory: str,
    result: LoadResult | None,
    out: TextIO,
) -> None:
    if output_format == "json":
        rows = [
            {"path": p.path, "line": p.line, "severity": p.severity.value, "message": p.message}
            for p in problems
        ]
        out.write(json.dumps(rows, indent=2) + "\n")
    elif output_format == "github":
        for problem in problems:
            out.write(format_github(problem) + "\n")
    else:
        for problem in problems:
            out.write(f"{problem}\n")
        out.write(summary(directory, problems, result) + "\n")


def run(args: argparse.Namespace) -> int:
    directory: str = args.dir
    if not os.path.isdir(directory):
        print(f"egressguard check: {directory}: no such directory", file=sys.stderr)
        return 2
    problems, result = check_repository(
        directory,
        now=now_or_clock(args.now),
        expiry_warning_days=args.expiry_warning_days,
        max_grantees=args.max_grantees,
        own_namespace=os.environ.get("EGRESSGUARD_NAMESPACE") or None,
    )
    report(problems, output_format=args.format, directory=directory, result=result, out=sys.stdout)
    return 1 if any(p.severity is Severity.ERROR for p in problems) else 0
