"""``explain`` answers as text for a person and as JSON for a script."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from webhook.model.rules import Destination, Grant
from webhook.review import wording
from webhook.review.explain import HostExplanation, IdentityExplanation, Route


def _grant_line(grant: Grant) -> str:
    reason = f"{grant.reason!r}" if grant.reason else "no reason given"
    expiry = f"expires {grant.expires}" if grant.expires else "no expiry"
    return f"{grant.source.path}: {reason} ({expiry})"


def _holder(grant: Grant) -> str:
    return f"{grant.namespace}/{grant.service_account} via {_grant_line(grant)}"


def _destination_line(destination: Destination) -> str:
    return (
        f"{destination.name} ({destination.access.value}, gateway {destination.gateway}, "
        f"{destination.source.path})"
    )


def _route_lines(route: Route, *, open_only: bool, annotation: str = "") -> list[str]:
    d = route.destination
    lines = [
        f"  {_destination_line(d)}",
        f"    hosts: {wording.names(d.hosts)}",
        f"    ports: {wording.ports(d.ports)}",
    ]
    lines.extend(
        f"    except {host} (destination {other} is more specific)" for host, other in route.taken
    )
    if open_only:
        lines.append(f"    via open access: any pod that requests it in {annotation}")
    lines.extend(f"    via {_grant_line(g)}" for g in route.grants)
    return lines


def identity_text(answer: IdentityExplanation) -> str:
    who = f"{answer.namespace}/{answer.service_account}"
    when = answer.now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = []
    if answer.exempt:
        lines.append(
            f"namespace {answer.namespace} is exempt (config.yaml exemptNamespaces): "
            "egressguard never judges its pods, so nothing below is enforced for them"
        )
    if answer.granted:
        lines.append(f"at {when}, {who} is granted:")
        for route in answer.granted:
            lines.extend(_route_lines(route, open_only=False))
    else:
        lines.append(f"at {when}, {who} has no active grant")
    if answer.open:
        lines.append("and may request the open destinations, like any pod:")
        for route in answer.open:
            lines.extend(_route_lines(route, open_only=True, annotation=answer.request_annotation))
    if answer.expired:
        lines.append("expired grants, which grant nothing:")
        lines.extend(f"  {_grant_line(g)}" for g in answer.expired)
    if answer.exceptions:
        lines.append("exceptions applying to its pods:")
        lines.extend(
            f"  {e.name} ({e.source.path}): {wording.waiver(e)}" for e in answer.exceptions
        )
    return "\n".join(lines) + "\n"


def _chosen(answer: HostExplanation) -> str:
    chosen = answer.chosen
    assert chosen is not None and answer.destination is not None
    how = "exact host" if chosen.exact else "wildcard"
    line = f"  chosen by {how} {chosen.pattern}"
    if answer.passed_over:
        over = wording.names(f"{c.pattern} ({c.destination})" for c in answer.passed_over)
        line += f", more specific than {over}"
    elif not chosen.exact:
        line += ": no exact host or longer wildcard covers the name"
    return line


def host_text(answer: HostExplanation) -> str:
    asked = answer.host if answer.port is None else f"{answer.host}:{answer.port}"
    destination = answer.destination
    if destination is None:
        return (
            f"{asked}: no destination covers it, so no pod may reach it through egressguard "
            "(a request is refused as unknown-destination)\n"
        )
    lines = [f"{asked} is in destination {_destination_line(destination)}", _chosen(answer)]
    lines.append(f"  ports: {wording.ports(destination.ports)}")
    if not answer.port_listed:
        lines.append(
            f"  port {answer.port} is not listed: no pod may reach {asked} "
            "(a request is refused as unknown-destination)"
        )
        return "\n".join(lines) + "\n"
    if answer.open:
        lines.append(f"  open access: any pod that requests it in {answer.request_annotation}")
    if answer.grants:
        count = len({g.identity for g in answer.grants})
        lines.append(f"  granted to {wording.plural(count, 'identity', 'identities')}:")
        lines.extend(f"    {_holder(g)}" for g in answer.grants)
    elif not answer.open:
        lines.append("  granted to no identity: no pod may reach it")
    if answer.expired:
        lines.append("  expired grants, which grant nothing:")
        lines.extend(f"    {_holder(g)}" for g in answer.expired)
    return "\n".join(lines) + "\n"


def _grant_json(grant: Grant) -> dict[str, Any]:
    return {
        "identity": f"{grant.namespace}/{grant.service_account}",
        "file": grant.source.path,
        "host": grant.host,
        "port": grant.port,
        "reason": grant.reason,
        "expires": grant.expires.isoformat() if grant.expires else None,
    }


def _route_json(route: Route) -> dict[str, Any]:
    d = route.destination
    return {
        "destination": d.name,
        "file": d.source.path,
        "access": d.access.value,
        "gateway": d.gateway,
        "hosts": list(d.hosts),
        "ports": [{"number": p.number, "protocol": p.protocol} for p in d.ports],
        "except": [{"host": h, "destination": o} for h, o in route.taken],
        "grants": [_grant_json(g) for g in route.grants],
    }


def identity_json(answer: IdentityExplanation) -> dict[str, Any]:
    return {
        "identity": f"{answer.namespace}/{answer.service_account}",
        "now": answer.now.isoformat(),
        "exempt": answer.exempt,
        "granted": [_route_json(r) for r in answer.granted],
        "open": [_route_json(r) for r in answer.open],
        "expired": [_grant_json(g) for g in answer.expired],
        "exceptions": [
            {
                "name": e.name,
                "file": e.source.path,
                "codes": sorted(e.codes),
                "expires": e.expires.isoformat(),
            }
            for e in answer.exceptions
        ],
    }


def host_json(answer: HostExplanation) -> dict[str, Any]:
    d = answer.destination
    chosen = answer.chosen
    return {
        "host": answer.host,
        "port": answer.port,
        "now": answer.now.isoformat(),
        "destination": None
        if d is None
        else _route_json(Route(d)) | {"grants": [_grant_json(g) for g in answer.grants]},
        "match": None
        if chosen is None
        else {"pattern": chosen.pattern, "how": "exact" if chosen.exact else "wildcard"},
        "passedOver": [
            {"pattern": c.pattern, "destination": c.destination} for c in answer.passed_over
        ],
        "portListed": answer.port_listed,
        "open": answer.open,
        "expired": [_grant_json(g) for g in answer.expired],
    }
