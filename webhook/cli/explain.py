"""``egressguard explain``: what an identity may reach, or who may reach a host, and why
(see DESCRIPTION for what the user reads)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from webhook.cli.moments import now_option, now_or_clock
from webhook.cli.options import add_output, subcommand
from webhook.cli.revisions import load_policy_or_report
from webhook.loader.names import dns_label_problem, dns_subdomain_problem
from webhook.review import explain_host, explain_identity
from webhook.review.explain_output import host_json, host_text, identity_json, identity_text


def _identity(value: str) -> tuple[str, str]:
    namespace, slash, service_account = value.partition("/")
    if not slash:
        raise argparse.ArgumentTypeError(
            f"{value!r}: write NAMESPACE/SERVICEACCOUNT, e.g. shop/checkout"
        )
    problem = dns_label_problem(namespace, what="namespace") or dns_subdomain_problem(
        service_account, what="service account"
    )
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{value!r}: {problem}")
    return namespace, service_account


def _host(value: str) -> tuple[str, int | None]:
    host, colon, port = value.rpartition(":")
    if not colon:
        return value, None
    if not port.isdigit() or not 1 <= int(port) <= 65535 or not host:
        raise argparse.ArgumentTypeError(f"{value!r}: write HOST or HOST:PORT (port 1-65535)")
    return host, int(port)


DESCRIPTION = """\
Answer the two questions of an access review from the rules:
  --identity NS/SA    every destination the service account may reach, through which
                      grant file (with its reason and expiry) or through open access
  --host HOST[:PORT]  the destination covering the host, how it was chosen (exact host or
                      wildcard), and every identity granted it, with its file
--rules takes a folder or a git revision, as diff does. Exit 0 with an answer, 2 on usage
or rules errors."""


def add_parser(subparsers: Any) -> None:
    parser = subcommand(
        subparsers, "explain",
        summary="what an identity may reach, or who may reach a host, and why",
        description=DESCRIPTION,
        example_lines=(
            "egressguard explain --identity shop/checkout",
            "egressguard explain --rules main:rules --host bigquery.googleapis.com:443",
            "egressguard explain --host api.stripe.com -o json",
        ),
    )
    parser.add_argument("--rules", default="rules", metavar="RULES",
                        help="the rules repository: a folder, or a git revision REV[:PATH] "
                             "(default: rules)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--identity", type=_identity, metavar="NS/SA", help="e.g. shop/checkout")
    which.add_argument("--host", type=_host, metavar="HOST[:PORT]", help="e.g. api.stripe.com:443")
    parser.add_argument(
        "--now",
        type=now_option,
        default=None,
        metavar="TIME",
        help="judge grant expiry at this time (ISO 8601; default: now)",
    )
    add_output(parser, ("text", "json"), default="text",
               described="text for a person, json for scripts")


def run(args: argparse.Namespace) -> int:
    policy = load_policy_or_report(args.rules, command="explain")
    if policy is None:
        return 2
    now = now_or_clock(args.now)
    if args.identity is not None:
        namespace, service_account = args.identity
        answer = explain_identity(policy, namespace, service_account, now=now)
        text, data = identity_text(answer), identity_json(answer)
    else:
        host, port = args.host
        found = explain_host(policy, host, port, now=now)
        text, data = host_text(found), host_json(found)
    sys.stdout.write(json.dumps(data, indent=2) + "\n" if args.output == "json" else text)
    return 0
