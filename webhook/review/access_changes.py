"""Who gains or loses which host:port between two policies, and the rules change that caused it.

Access is compared as :mod:`webhook.review.access` computes it, never file by file: one more
host on a restricted destination shows up as every grantee gaining that host, which a
reviewer reading only ``destinations/x.yaml`` would miss. Each change names its cause
(a grant file, a host or port of a destination, a switch to open access) so the reviewer
knows which line of the pull request to question.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from webhook.engine.entitlement import grant_file
from webhook.model.rules import Access, Policy
from webhook.review.access import (
    EVERYONE,
    Principal,
    Reach,
    Reaches,
    granted_destinations,
    host_patterns,
    owner,
)


class Direction(enum.StrEnum):
    GAINS = "gains"
    LOSES = "loses"


@dataclass(frozen=True, slots=True, order=True)
class AccessChange:
    """One principal gaining (or losing) some reaches through one destination, for one cause.

    ``destination`` is the one the reaches go through after the change for a gain, before
    it for a loss.
    """

    principal: Principal
    direction: Direction
    destination: str
    why: str
    reaches: tuple[Reach, ...]

    @property
    def widens(self) -> bool:
        return self.direction is Direction.GAINS


@dataclass(frozen=True, slots=True)
class _Sides:
    """The policy a change goes from and the one it goes to, in the change's direction."""

    source: Policy
    target: Policy
    direction: Direction
    now: datetime
    granted_in_source: Mapping[Principal, set[str]]


class _Words(NamedTuple):
    """How a cause reads in each direction."""

    destination: str
    host: str
    switched_to: str
    grant: str


_WORDS = {
    Direction.GAINS: _Words("new destination", "added to", "open access", "added"),
    Direction.LOSES: _Words("removed destination", "removed from", "restricted", "removed"),
}


def _grant_cause(principal: Principal, destination: str, sides: _Sides) -> str:
    """Why ``principal`` has ``destination`` in the target policy and not in the source."""
    source_grants = {
        (g.host, g.port): g
        for g in sides.source.grants_for(principal.namespace, principal.service_account)
    }
    added_or_removed = _WORDS[sides.direction].grant
    for grant in sides.target.grants_for(principal.namespace, principal.service_account):
        if grant.destination != destination or not grant.active(sides.now):
            continue
        file = grant_file(grant.namespace, grant.service_account, grant.host, grant.port)
        before = source_grants.get((grant.host, grant.port))
        if before is None:
            return f"grant {added_or_removed}: {file}"
        if before.destination != grant.destination:
            new, old = grant.destination, before.destination
            if sides.direction is Direction.LOSES:
                new, old = old, new
            return f"grant {file} is now for {new} (was {old})"
        if not before.active(sides.now):
            lapsed = f"expired {before.expires}" if before.expires else "expired"
            if sides.direction is Direction.GAINS:
                return f"grant renewed: {file} (was {lapsed})"
            return f"grant {lapsed}: {file}"
        return f"grant {file}"
    return f"grant for {destination}"


def _cause(principal: Principal, reach: Reach, sides: _Sides) -> str:
    """The rules change that gives (or takes) ``reach`` to ``principal``."""
    words = _WORDS[sides.direction]
    to = owner(sides.target, reach.host)
    came_from = owner(sides.source, reach.host)
    assert to is not None  # the principal reaches it in the target policy
    if not principal.is_everyone and to.access is Access.RESTRICTED:
        had = sides.granted_in_source.get(principal, set())
        if to.name not in had:
            # The identity is new to this destination: its grant explains every host and port.
            return _grant_cause(principal, to.name, sides)
    if came_from is None:
        if to.name not in sides.source.destinations:
            return f"{words.destination} {to.name}"
        return f"host {reach.host} {words.host} {to.name}"
    if came_from.name != to.name:
        first, second = (came_from, to) if sides.direction is Direction.GAINS else (to, came_from)
        return f"{reach.host} moved from destination {first.name} to {second.name}"
    if not came_from.lists_port(reach.port):
        return f"port {reach.port} {words.host} {to.name}"
    if principal.is_everyone or (
        to.access is Access.OPEN and came_from.access is Access.RESTRICTED
    ):
        return f"{to.name} switched to {words.switched_to}"
    return _grant_cause(principal, to.name, sides)


def access_changes(base: Policy, head: Policy, *, now: datetime) -> tuple[AccessChange, ...]:
    """Every gain and loss of access from ``base`` to ``head``, judged at ``now``.

    An identity's change that every pod makes too (a destination switched to open) is
    reported once, for :data:`EVERYONE`, not once per identity.
    """
    patterns = host_patterns(base, head)
    granted_base = granted_destinations(base, now=now)
    granted_head = granted_destinations(head, now=now)
    reach_base, reach_head = Reaches.of(base, patterns), Reaches.of(head, patterns)
    changed = {
        name
        for name in reach_base.by_destination.keys() | reach_head.by_destination.keys()
        if reach_base.by_destination.get(name) != reach_head.by_destination.get(name)
    }
    before: dict[Principal, dict[Reach, str]] = {EVERYONE: dict(reach_base.open)}
    after: dict[Principal, dict[Reach, str]] = {EVERYONE: dict(reach_head.open)}
    for identity in granted_base.keys() | granted_head.keys():
        granted_before = granted_base.get(identity, set())
        granted_after = granted_head.get(identity, set())
        if granted_before == granted_after and not granted_before & changed:
            continue  # only open access can differ for it, and EVERYONE's rows say that
        before[identity] = reach_base.of_identity(granted_before)
        after[identity] = reach_head.of_identity(granted_after)
    groups: dict[tuple[Principal, Direction, str, str], list[Reach]] = defaultdict(list)
    for direction, old, new, sides in (
        (Direction.GAINS, before, after, _Sides(base, head, Direction.GAINS, now, granted_base)),
        (Direction.LOSES, after, before, _Sides(head, base, Direction.LOSES, now, granted_head)),
    ):
        everyone = new[EVERYONE].keys() - old[EVERYONE].keys()
        for principal in sorted(new):
            old_reaches = old.get(principal, {})
            for reach, destination in new[principal].items():
                if reach in old_reaches or (not principal.is_everyone and reach in everyone):
                    continue
                why = _cause(principal, reach, sides)
                groups[(principal, direction, destination, why)].append(reach)
    return tuple(
        sorted(
            AccessChange(principal, direction, destination, why, tuple(sorted(reaches)))
            for (principal, direction, destination, why), reaches in groups.items()
        )
    )
