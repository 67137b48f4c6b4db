"""What learn tells the person who runs it: what was read, skipped, left out and proposed.

Written to stderr as text (the diff goes to stdout), or as part of the JSON output.
"""

from __future__ import annotations

from typing import Any

from webhook.learn.observations import Reading
from webhook.learn.proposal import NewDestination, NewGrant, Proposal

SHOWN = 10  # skipped lines and unattributed destinations listed one by one


def report_json(reading: Reading, proposal: Proposal, files: list[str]) -> dict[str, Any]:
    proposed: list[NewDestination | NewGrant] = [*proposal.destinations, *proposal.grants]
    return {
        "lines": reading.lines,
        "needs": len(reading.needs),
        "skippedLines": reading.skipped_lines,
        "ignored": dict(sorted(reading.ignored.items())),
        "skipped": [{"where": s.where, "reason": s.reason} for s in reading.skipped],
        "unattributed": [
            {"host": u.host, "port": u.port, "source": u.source, "lines": count}
            for u, count in sorted(reading.unattributed.items())
        ],
        "leftOut": [
            {"identity": n.identity, "host": n.host, "port": n.port, "reason": why}
            for n, why in proposal.left_out
        ],
        "attackerControlled": [
            {"file": item.file, "host": item.controlled.host, "reason": item.controlled.reason}
            for item in proposed
            if item.controlled is not None
        ],
        "files": files,
    }


def report_lines(reading: Reading, proposal: Proposal, files: list[str], *, out: str) -> list[str]:
    lines = [f"read {reading.lines} lines: {len(reading.needs)} identity and host:port pairs"]
    lines += [f"  ignored {count}: {why}" for why, count in sorted(reading.ignored.items())]
    if reading.skipped_lines:
        lines.append(f"skipped {reading.skipped_lines} malformed lines (nothing was taken from "
                     "them; fix or remove them and run learn again):")
        lines += [f"  {s.where}: {s.reason}" for s in reading.skipped[:SHOWN]]
        if reading.skipped_lines > SHOWN:
            lines.append(f"  and {reading.skipped_lines - SHOWN} more")
    if reading.unattributed:
        lines.append("gateway traffic whose lines name no identity (no grant proposed; log "
                     "downstream_peer_uri_san, or find the pod by its address):")
        shown = sorted(reading.unattributed.items())
        lines += [f"  {u.host}:{u.port} from {u.source} ({count} line{'s' if count > 1 else ''})"
                  for u, count in shown[:SHOWN]]
        if len(shown) > SHOWN:
            lines.append(f"  and {len(shown) - SHOWN} more")
    for need, why in proposal.left_out:
        lines.append(f"not proposed: {need.identity} -> {need.endpoint}: {why}")
    for new in proposal.destinations:
        if new.controlled is not None:
            lines.append(f"attacker-controlled: {new.file} ({new.host}): "
                         f"{new.controlled.reason}")
    if proposal.admitted_already:
        lines.append(f"{proposal.admitted_already} needs are admitted by the rules as they are")
    if files:
        lines.append(f"wrote {len(files)} files into {out}; review them, then open a pull "
                     "request from that folder")
    else:
        lines.append(f"nothing to propose; {out} is an unchanged copy of the rules")
    return lines
