"""``serve --audit-interval``: the audit on an interval, and its options."""

from __future__ import annotations

import argparse
import re
from typing import Any

from webhook.controller.options import AUDIT_LEASE_NAME, AuditOptions, lease_terms

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
MIN_INTERVAL_SECONDS = 10


def duration(value: str) -> float:
    """``90``, ``90s``, ``10m``, ``1h30m``: seconds, at least :data:`MIN_INTERVAL_SECONDS`."""
    match = _DURATION.fullmatch(value)
    if value.isdigit():
        seconds = int(value)
    elif value and match:
        hours, minutes, secs = (int(part or 0) for part in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration: write e.g. 10m, 1h "
                                         "or 90s")
    if seconds < MIN_INTERVAL_SECONDS:
        raise argparse.ArgumentTypeError(f"{value!r}: give at least {MIN_INTERVAL_SECONDS}s "
                                         "(each audit reads the whole cluster)")
    return float(seconds)


def add_arguments(parser: Any) -> None:
    group = parser.add_argument_group(
        "audit", "judge what is already in the cluster on an interval (needs a cluster)")
    group.add_argument(
        "--audit-interval", type=duration, default=None, metavar="DURATION",
        help="run `egressguard audit` every DURATION (e.g. 10m; off by default) on one "
        "replica: write its policy reports, export egressguard_violations, and show "
        "warnings about controller-created pods as Events on their owner")


def audit_options(args: argparse.Namespace) -> AuditOptions | None:
    """None without ``--audit-interval``; ValueError when the Lease has nowhere to live."""
    if args.audit_interval is None:
        return None
    namespace = args.lease_namespace or args.own_namespace
    if not namespace:
        raise ValueError("--audit-interval: give --lease-namespace (or --own-namespace, or "
                         "$POD_NAMESPACE) for the audit's Lease")
    return AuditOptions(
        interval_seconds=float(args.audit_interval),
        lease=lease_terms(AUDIT_LEASE_NAME, namespace, int(args.lease_seconds)),
    )
