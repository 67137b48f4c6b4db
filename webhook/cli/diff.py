"""``egressguard diff BASE HEAD``: who gains or loses egress between two versions of the
rules (see DESCRIPTION for what the user reads)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from webhook.cli.moments import now_option, now_or_clock
from webhook.cli.options import add_output, subcommand
from webhook.cli.revisions import RevisionError, load_rules
from webhook.loader import RulesError
from webhook.model.rules import Policy
from webhook.review import diff_policies
from webhook.review.diff_json import diff_as_json
from webhook.review.markdown import render_markdown

FORMATS = ("markdown", "json")


DESCRIPTION = """\
Who gains or loses egress between two versions of the rules. BASE and HEAD are folders
or git revisions REV[:PATH] (origin/main:rules, or just main when the rules repository is
the git repository's root), read without checking anything out. The effective access of
both is compared, not their files: an identity gaining a host through one more host on
its destination is listed like one gaining it through a new grant.

Markdown is written for a pull request comment; JSON for scripts. Exit 0; 1 with
--fail-on widen when access widens (a gain, an exception waiving more, config.yaml
loosened, a DLP pattern dropped); 2 when either side does not load or is not found."""


def add_parser(subparsers: Any) -> None:
    parser = subcommand(
        subparsers, "diff", summary="who gains or loses egress between two versions of the rules",
        description=DESCRIPTION,
        example_lines=(
            "egressguard diff origin/main:rules HEAD:rules",
            "egressguard diff old-rules/ rules/ -o json",
            'egressguard diff "origin/$BASE_REF" HEAD --fail-on widen > comment.md',
        ),
    )
    where = "a folder, or a git revision REV[:PATH] such as origin/main:rules"
    parser.add_argument("base", metavar="BASE", help=f"the rules before: {where}")
    parser.add_argument("head", metavar="HEAD", help=f"the rules after: {where}")
    add_output(parser, FORMATS, default="markdown",
               described="markdown for a pull request comment, json for scripts")
    parser.add_argument(
        "--fail-on",
        choices=("widen",),
        default=None,
        help="exit 1 when access widens, e.g. to require a second approval",
    )
    parser.add_argument(
        "--now",
        type=now_option,
        default=None,
        metavar="TIME",
        help="judge grant and exception expiry at this time (ISO 8601; default: now)",
    )


def _load(role: str, spec: str) -> Policy | None:
    """One side's Policy, or ``None`` after printing why it has none."""
    try:
        return load_rules(
            spec, own_namespace=os.environ.get("EGRESSGUARD_NAMESPACE") or None
        ).policy
    except RevisionError as error:
        print(f"egressguard diff: {role}: {error}", file=sys.stderr)
    except RulesError as error:
        print(f"egressguard diff: {role} {spec}: the rules do not load", file=sys.stderr)
        for problem in error.errors:
            print(problem, file=sys.stderr)
    return None


def run(args: argparse.Namespace) -> int:
    base = _load("BASE", args.base)
    head = _load("HEAD", args.head)
    if base is None or head is None:
        return 2
    diff = diff_policies(base, head, now=now_or_clock(args.now))
    if args.output == "json":
        sys.stdout.write(json.dumps(diff_as_json(diff), indent=2) + "\n")
    else:
        sys.stdout.write(render_markdown(diff, base=args.base, head=args.head))
    return 1 if args.fail_on == "widen" and diff.widens else 0
