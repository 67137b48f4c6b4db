"""``egressguard check [DIR]``: lint a rules repository for a pull request.

Thin by design: it loads the repository with the same loader the webhook uses (so a change
that passes here loads in the cluster), adds the warnings that need today's date, and prints
them for a person (``text``), for GitHub's pull request view (``github``) or for a script
(``json``).
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
from webhook.cli.options import DIRECTORY, add_output, complete, subcommand
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


DESCRIPTION = """\
Check a rules repository as the webhook would load it: every error and warning with its
file and line. Errors are what the webhook refuses to load; warnings (grants expiring
soon, grants without a reason, wildcard destinations, restricted destinations nobody may
use or granted very widely, deprecated apiVersions) never fail a check.

Exit 0 without errors, 1 with errors, 2 when DIR is not a folder."""


def add_parser(subparsers: Any) -> None:
    parser = subcommand(
        subparsers, "check", summary="lint a rules repository (exit 1 on errors)",
        description=DESCRIPTION,
        example_lines=(
            "egressguard check",
            "egressguard check rules/ -o github",
            "egressguard check . -o json --now 2027-01-01T00:00:00Z",
        ),
    )
    complete(parser.add_argument("dir", nargs="?", default="rules", metavar="DIR",
                                 help="the rules repository (default: rules)"), DIRECTORY)
    add_output(parser, FORMATS, default="text",
               described="text (path:line: severity: message), github (annotations on the "
                         "pull request's lines) or json")
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
        metavar="TIME",
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
    report(problems, output_format=args.output, directory=directory, result=result, out=sys.stdout)
    return 1 if any(p.severity is Severity.ERROR for p in problems) else 0
