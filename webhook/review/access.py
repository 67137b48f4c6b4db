"""Effective access: which principal reaches which host pattern on which port, at one time.

A reviewer cares about who can reach what, not which files changed. Two rules repositories
are compared through this one view, built the way the engine decides: a grant is for its
whole destination (the label is per destination), an expired grant grants nothing, an
``open`` destination is reachable by any pod that requests it, and a name belongs to the
most specific destination covering it — so removing an exact host can hand it to a wildcard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from webhook.model.rules import Access, Destination, Policy


@dataclass(frozen=True, slots=True, order=True)
class Principal:
    """A service account in a namespace, or :data:`EVERYONE` (empty namespace and name)."""

    namespace: str
    service_account: str

    @property
    def is_everyone(self) -> bool:
        return not self.namespace

    def __str__(self) -> str:
        if self.is_everyone:
            return "any pod that requests it"
        return f"{self.namespace}/{self.service_account}"


EVERYONE = Principal("", "")


@dataclass(frozen=True, slots=True, order=True)
class Reach:
    """A host pattern (as a destination lists it) and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


# principal -> reach -> the name of the destination it goes through
AccessMap = Mapping[Principal, Mapping[Reach, str]]


def host_patterns(*policies: Policy) -> frozenset[str]:
    """Every host pattern any of the policies' destinations lists."""
    return frozenset(h for p in policies for d in p.destinations.values() for h in d.hosts)


def owner(policy: Policy, pattern: str) -> Destination | None:
    """The destination that carries every name ``pattern`` covers, as the engine picks it."""
    return policy.destination_covering(pattern)


def granted_destinations(policy: Policy, *, now: datetime) -> dict[Principal, set[str]]:
    """Each identity named by any grant file, with the destinations its active grants give.

    Identities whose grants have all expired are kept with an empty set: they still reach
    the open destinations, like every pod, and must be comparable across two policies.
    """
    granted: dict[Principal, set[str]] = {}
    for grant in policy.grants:
        names = granted.setdefault(Principal(*grant.identity), set())
        if grant.active(now) and grant.destination in policy.destinations:
            names.add(grant.destination)
    return granted


def effective_access(
    policy: Policy,
    *,
    now: datetime,
    patterns: Iterable[str] | None = None,
    identities: Iterable[Principal] = (),
) -> dict[Principal, dict[Reach, str]]:
    """What every principal reaches at ``now``, over ``patterns`` (default: the policy's own).

    Comparing two policies passes the union of both sides' patterns and identities, so a
    name that changes hands between destinations, or an identity present on one side
    only, is looked at on both. Identities include the open destinations; :data:`EVERYONE`
    holds only those.
    """
    granted = granted_destinations(policy, now=now)
    for identity in identities:
        granted.setdefault(identity, set())
    by_destination: dict[str, dict[Reach, str]] = {}
    for pattern in patterns if patterns is not None else host_patterns(policy):
        destination = owner(policy, pattern)
        if destination is not None:
            reaches = by_destination.setdefault(destination.name, {})
            for port in destination.ports:
                reaches[Reach(pattern, port.number)] = destination.name
    open_reaches: dict[Reach, str] = {}
    for destination in policy.destinations.values():
        if destination.access is Access.OPEN:
            open_reaches.update(by_destination.get(destination.name, {}))
    access: dict[Principal, dict[Reach, str]] = {EVERYONE: open_reaches}
    for principal, names in granted.items():
        reaches = dict(open_reaches)
        for name in names:
            reaches.update(by_destination.get(name, {}))
        access[principal] = reaches
    return access


def grantees(policy: Policy, destination: str, *, now: datetime) -> tuple[Principal, ...]:
    """The identities with an active grant for ``destination``, sorted."""
    return tuple(
        sorted(
            principal
            for principal, names in granted_destinations(policy, now=now).items()
            if destination in names
        )
    )
