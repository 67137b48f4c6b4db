"""``egressguard learn``: proposed rules from warn-mode audit logs and gateway access logs
(see DESCRIPTION for what the user reads)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from webhook.cli.moments import now_option, now_or_clock
from webhook.cli.options import (
    DIRECTORY,
    FILE,
    add_out_dir,
    add_output,
    complete,
    existing_dir,
    subcommand,
)
from webhook.learn import OutError, Reading, propose, read_access_log, read_audit_log
from webhook.learn.output import write_proposal
from webhook.learn.report import report_json, report_lines
from webhook.loader import RulesError, load_repository
from webhook.model.rules import Policy
from webhook.review import diff_policies
from webhook.review.diff_json import diff_as_json
from webhook.review.markdown import render_markdown

FORMATS = ("markdown", "json")

DESCRIPTION = """\
Propose the rules that would have admitted what warn mode and the gateways saw, in a copy
of the rules repository, and print who would gain what (as 'egressguard diff' does).

--audit-log reads the webhook's audit log (its stdout; 'kubectl logs' output is fine):
each pod and pod template line names its identity and the host:port entries it requested.
--access-log reads egress gateway access logs in Istio's default text or JSON format, or
Envoy's default format (the per-destination Envoys of 'render'). Gateway lines become
grants only when they carry the client's SPIFFE ID under downstream_peer_uri_san; the
others are listed as traffic without an identity.

For each identity and host:port not yet admitted, learn proposes a restricted Destination
for a host no Destination covers (one host, the ports seen), a port missing from the
covering Destination, and the grant file services/<ns>/<sa>/<host>:<port>.rule. Hosts
anyone can publish on (code hosting, paste sites, object storage, URL shorteners, file
sharing) are flagged. The live repository is never written: --out must be outside it, and
empty or an earlier learn output.

A malformed line is skipped whole, counted and reported with its file and line; nothing is
guessed from it. Exit 0 when the proposal was written from every line; 1 when it was
written but lines were skipped (the proposal may miss what they said); 2 when nothing was
written (usage, rules that do not load, a log that cannot be read, --out refused)."""


def add_parser(subparsers: Any) -> None:
    parser = subcommand(
        subparsers, "learn",
        summary="propose Destinations and grants from warn-mode and gateway logs",
        description=DESCRIPTION,
        example_lines=(
            "kubectl logs -n egressguard-system egressguard-7d4b9-x2k4f > audit-1.log",
            "egressguard learn --rules rules/ --audit-log audit-*.log --out proposed/",
            "egressguard learn --rules rules/ --audit-log audit.log "
            "--access-log gateway.log --out proposed/ -o json",
        ),
    )
    complete(parser.add_argument("--rules", type=existing_dir, required=True, metavar="DIR",
                                 help="the rules repository (a folder; it is only read)"),
             DIRECTORY)
    complete(parser.add_argument("--audit-log", type=Path, action="extend", nargs="+",
                                 required=True, metavar="FILE",
                                 help="audit logs of the webhook, one per replica"), FILE)
    complete(parser.add_argument("--access-log", type=Path, action="extend", nargs="+",
                                 default=[], metavar="FILE",
                                 help="access logs of the egress gateways"), FILE)
    add_out_dir(parser, required=True,
                described="where to write the proposed copy of the rules repository")
    add_output(parser, FORMATS, default="markdown",
               described="markdown for a pull request, json for scripts")
    parser.add_argument("--now", type=now_option, default=None, metavar="TIME",
                        help="judge grant expiry at this time (ISO 8601; default: now)")


def _fail(message: str) -> int:
    print(f"egressguard learn: {message}", file=sys.stderr)
    return 2


def _load(path: Path, role: str) -> Policy | None:
    try:
        return load_repository(path,
                               own_namespace=os.environ.get("EGRESSGUARD_NAMESPACE") or None
                               ).policy
    except RulesError as error:
        _fail(f"{role} {path}: the rules do not load")
        for problem in error.errors:
            print(problem, file=sys.stderr)
    return None


def _read(args: argparse.Namespace) -> Reading | str:
    reading = Reading()
    sources = [(p, read_audit_log) for p in args.audit_log]
    sources += [(p, read_access_log) for p in args.access_log]
    for path, reader in sources:
        try:
            with path.open(encoding="utf-8", errors="replace") as lines:
                reading.extend(reader(str(path), lines))
        except OSError as error:
            return f"cannot read {path}: {error.strerror or error}"
    return reading


def run(args: argparse.Namespace) -> int:
    live = _load(args.rules, "--rules")
    if live is None:
        return 2
    reading = _read(args)
    if isinstance(reading, str):
        return _fail(reading)
    now = now_or_clock(args.now)
    proposal = propose(live, reading.needs, now=now, protocols=reading.protocols)
    try:
        files = write_proposal(args.rules, args.out, proposal)
    except OutError as error:
        return _fail(str(error))
    except OSError as error:
        return _fail(f"cannot write {args.out}: {error}")
    proposed = _load(args.out, "the proposal in")
    if proposed is None:
        return 2
    diff = diff_policies(live, proposed, now=now)
    if args.output == "json":
        body = {"learn": report_json(reading, proposal, files), "diff": diff_as_json(diff)}
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        sys.stdout.write(render_markdown(diff, base=str(args.rules), head=str(args.out)))
        for line in report_lines(reading, proposal, files, out=str(args.out)):
            print(line, file=sys.stderr)
    return 1 if reading.skipped_lines else 0
