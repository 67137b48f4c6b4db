"""``explain``: what one identity may reach, or who may reach one host, and why.

The two questions asked in every access review and every incident: "why can this pod reach
that?" and "who can reach this?". Both answers point at the files that decide — the grant
files with their reason and expiry, the destination and the host pattern that covers the
name — so the answer doubles as "what to change".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from webhook.model.hosts import host_matches, is_wildcard, normalize_host, wildcard_suffix
from webhook.model.rules import Access, Destination, Grant, Policy, PolicyException


@dataclass(frozen=True, slots=True)
class Route:
    """One destination an identity may reach, and what gives it to it.

    ``grants`` are the identity's active grant files for it (empty when only open access
    gives it); ``taken`` are names under its wildcards that a more specific destination
    takes, as ``(host, destination)``: the identity does not reach those through it.
    """

    destination: Destination
    grants: tuple[Grant, ...] = ()
    taken: tuple[tuple[str, str], ...] = ()

    @property
    def open(self) -> bool:
        return self.destination.access is Access.OPEN


@dataclass(frozen=True, slots=True)
class IdentityExplanation:
    namespace: str
    service_account: str
    now: datetime
    granted: tuple[Route, ...]
    open: tuple[Route, ...]  # open destinations it has no grant for: reachable on request
    expired: tuple[Grant, ...]
    exceptions: tuple[PolicyException, ...]  # active, applying to its pods
    exempt: bool  # its namespace is never judged
    request_annotation: str = "egressguard.io/egress"


def _taken(policy: Policy, destination: Destination) -> tuple[tuple[str, str], ...]:
    """Names under the destination's wildcards that a more specific destination covers."""
    taken: list[tuple[str, str]] = []
    for pattern in destination.hosts:
        if not is_wildcard(pattern):
            continue
        for other in policy.destinations.values():
            if other.name == destination.name:
                continue
            taken.extend((host, other.name) for host in other.hosts if _covers(pattern, host))
    return tuple(sorted(taken))


def explain_identity(
    policy: Policy, namespace: str, service_account: str, *, now: datetime
) -> IdentityExplanation:
    """Every destination ``namespace/service_account`` may reach at ``now``, and through what."""
    grants = policy.grants_for(namespace, service_account)
    by_destination: dict[str, list[Grant]] = {}
    for grant in grants:
        if grant.active(now) and grant.destination in policy.destinations:
            by_destination.setdefault(grant.destination, []).append(grant)
    granted = tuple(
        Route(policy.destinations[name], tuple(found), _taken(policy, policy.destinations[name]))
        for name, found in sorted(by_destination.items())
    )
    open_routes = tuple(
        Route(d, (), _taken(policy, d))
        for name, d in sorted(policy.destinations.items())
        if d.access is Access.OPEN and name not in by_destination
    )
    exceptions = tuple(
        e
        for e in policy.exceptions_for(namespace)
        if e.active(now) and e.service_account in (None, service_account)
    )
    return IdentityExplanation(
        namespace=namespace,
        service_account=service_account,
        now=now,
        granted=granted,
        open=open_routes,
        expired=tuple(g for g in grants if not g.active(now)),
        exceptions=exceptions,
        exempt=namespace in policy.config.exempt_namespaces,
        request_annotation=policy.config.request_annotation,
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A host pattern of some destination that covers the name asked about."""

    pattern: str
    destination: str

    @property
    def exact(self) -> bool:
        return not is_wildcard(self.pattern)


@dataclass(frozen=True, slots=True)
class HostExplanation:
    """Who may reach ``host`` (on ``port``, when given) and why.

    ``chosen`` is the pattern that decides (the most specific); ``passed_over`` are the
    broader patterns that also cover the name and lose to it.
    """

    host: str
    port: int | None
    now: datetime
    destination: Destination | None
    chosen: Candidate | None
    passed_over: tuple[Candidate, ...]
    grants: tuple[Grant, ...]  # active grants for the destination, by identity
    expired: tuple[Grant, ...]
    request_annotation: str = "egressguard.io/egress"

    @property
    def port_listed(self) -> bool:
        if self.destination is None:
            return False
        return self.port is None or self.destination.lists_port(self.port)

    @property
    def open(self) -> bool:
        return self.destination is not None and self.destination.access is Access.OPEN


def _covers(pattern: str, host: str) -> bool:
    """Whether ``pattern`` covers every name ``host`` (a name or a wildcard) covers."""
    if not is_wildcard(host):
        return host_matches(pattern, host)
    if not is_wildcard(pattern):
        return False
    return wildcard_suffix(host).endswith(wildcard_suffix(pattern))


def _specificity(candidate: Candidate) -> tuple[int, int]:
    """Exact names first, then longer wildcards: the order the engine prefers them in."""
    return (0 if candidate.exact else 1, -len(candidate.pattern))


def explain_host(policy: Policy, host: str, port: int | None, *, now: datetime) -> HostExplanation:
    """The destination covering ``host``, how it was chosen, and every identity granted it."""
    name = normalize_host(host)
    destination = policy.destination_covering(name)
    candidates = sorted(
        (
            Candidate(pattern, d.name)
            for d in policy.destinations.values()
            for pattern in d.hosts
            if _covers(pattern, name)
        ),
        key=_specificity,
    )
    winner = destination.name if destination else None
    chosen = next((c for c in candidates if c.destination == winner), None)
    grants: tuple[Grant, ...] = ()
    if destination is not None:
        grants = tuple(
            sorted(
                (g for g in policy.grants if g.destination == destination.name),
                key=lambda g: (g.namespace, g.service_account, g.host, g.port),
            )
        )
    return HostExplanation(
        host=name,
        port=port,
        now=now,
        destination=destination,
        chosen=chosen,
        passed_over=tuple(c for c in candidates if c != chosen),
        grants=tuple(g for g in grants if g.active(now)),
        expired=tuple(g for g in grants if not g.active(now)),
        request_annotation=policy.config.request_annotation,
    )
