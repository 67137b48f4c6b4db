"""A :class:`PolicyDiff` as plain JSON values, for scripts and other bots.

Field names are stable: a team's own tooling (a Slack notice for open access, a second
approval for exceptions) reads ``widens``, ``risks`` and ``access`` from here.
"""

from __future__ import annotations

from typing import Any

from webhook.model.rules import Destination, Gateway, Grant, PolicyException
from webhook.review.access_changes import Direction
from webhook.review.diff import PolicyDiff
from webhook.review.risks import risk_flags


def _destination(d: Destination | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "hosts": list(d.hosts),
        "ports": [{"number": p.number, "protocol": p.protocol} for p in d.ports],
        "gateway": d.gateway,
        "access": d.access.value,
        "tlsOrigination": d.tls_origination,
        "blockBodyPatterns": list(d.block_body_patterns),
    }


def _gateway(g: Gateway | None) -> dict[str, Any] | None:
    if g is None:
        return None
    return {"namespace": g.namespace, "selector": dict(sorted(g.selector.items()))}


def _exception(e: PolicyException | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "namespace": e.namespace,
        "serviceAccount": e.service_account,
        "codes": sorted(e.codes),
        "expires": e.expires.isoformat(),
        "reason": e.reason,
    }


def _grant(g: Grant | None) -> dict[str, Any] | None:
    if g is None:
        return None
    return {
        "destination": g.destination,
        "reason": g.reason,
        "expires": g.expires.isoformat() if g.expires else None,
    }


def diff_as_json(diff: PolicyDiff) -> dict[str, Any]:
    """The whole diff; ``principal`` is ``"*"`` for any pod that requests an open destination."""
    return {
        "now": diff.now.isoformat(),
        "widens": diff.widens,
        "gains": [str(p) if not p.is_everyone else "*" for p in diff.principals(Direction.GAINS)],
        "loses": [str(p) if not p.is_everyone else "*" for p in diff.principals(Direction.LOSES)],
        "risks": [{"kind": f.kind.value, "message": f.message} for f in risk_flags(diff)],
        "access": [
            {
                "principal": "*" if c.principal.is_everyone else str(c.principal),
                "change": c.direction.value,
                "destination": c.destination,
                "reaches": [str(r) for r in c.reaches],
                "why": c.why,
            }
            for c in diff.access
        ],
        "destinations": [
            {
                "name": c.name,
                "before": _destination(c.before),
                "after": _destination(c.after),
                "widens": c.widens,
                "grantees": [str(p) for p in c.affected],
            }
            for c in diff.destinations
        ],
        "gateways": [
            {
                "name": c.name,
                "before": _gateway(c.before),
                "after": _gateway(c.after),
                "default": {"before": c.default_before, "after": c.default_after},
                "destinations": list(c.destinations),
            }
            for c in diff.gateways
        ],
        "exceptions": [
            {
                "name": c.name,
                "before": _exception(c.before),
                "after": _exception(c.after),
                "active": {"before": c.active_before, "after": c.active_after},
                "widens": c.widens,
            }
            for c in diff.exceptions
        ],
        "grants": [
            {
                "file": c.file,
                "change": c.kind,
                "before": _grant(c.before),
                "after": _grant(c.after),
                "active": {"before": c.active_before, "after": c.active_after},
            }
            for c in diff.grants
        ],
        "config": [
            {
                "setting": c.setting,
                "added": list(c.added),
                "removed": list(c.removed),
                "widens": c.widens,
            }
            for c in diff.settings
        ],
    }
