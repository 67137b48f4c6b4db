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
    by_identity: dict[tuple[str, str], set[str]] = {}
    destinations = policy.destinations
    for grant in policy.grants:
        names = by_identity.setdefault((grant.namespace, grant.service_account), set())
        # Most grants never expire: skip the date arithmetic for them (large repositories).
        if (grant.expires is None or grant.active(now)) and grant.destination in destinations:
            names.add(grant.destination)
    return {Principal(*identity): names for identity, names in by_identity.items()}


@dataclass(frozen=True, slots=True)
class Reaches:
    """What each destination of one policy reaches over a set of patterns, and open access."""

    by_destination: Mapping[str, Mapping[Reach, str]]
    open: Mapping[Reach, str]

    @classmethod
    def of(cls, policy: Policy, patterns: Iterable[str]) -> Reaches:
        by_destination: dict[str, dict[Reach, str]] = {}
        for pattern in patterns:
            destination = owner(policy, pattern)
            if destination is not None:
                reaches = by_destination.setdefault(destination.name, {})
                for port in destination.ports:
                    reaches[Reach(pattern, port.number)] = destination.name
        open_reaches: dict[Reach, str] = {}
        for destination in policy.destinations.values():
            if destination.access is Access.OPEN:
                open_reaches.update(by_destination.get(destination.name, {}))
        return cls(by_destination, open_reaches)

    def of_identity(self, destinations: Iterable[str]) -> dict[Reach, str]:
        """An identity granted ``destinations`` reaches them, and every open destination."""
        reaches = dict(self.open)
        for name in destinations:
            reaches.update(self.by_destination.get(name, {}))
        return reaches


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
    reaches = Reaches.of(policy, patterns if patterns is not None else host_patterns(policy))
    access: dict[Principal, dict[Reach, str]] = {EVERYONE: dict(reaches.open)}
    for principal, names in granted.items():
        access[principal] = reaches.of_identity(names)
    return access


def grantees_by_destination(
    granted: Mapping[Principal, set[str]],
) -> dict[str, tuple[Principal, ...]]:
    """Each destination's identities with an active grant (from :func:`granted_destinations`)."""
    found: dict[str, set[Principal]] = {}
    for principal, names in granted.items():
        for name in names:
            found.setdefault(name, set()).add(principal)
    return {name: tuple(sorted(principals)) for name, principals in found.items()}
