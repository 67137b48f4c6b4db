"""Changes to destinations and gateways, with the identities each one touches.

The access table says who gains what; this says what the security team changed to cause
it — a host or port more, a switch to ``open``, traffic moved to another gateway, a DLP
pattern dropped — and who is affected, so the owners of destinations/ and config.yaml can
judge the change itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from webhook.model.hosts import is_wildcard
from webhook.model.rules import Access, Destination, Gateway, Policy, Port
from webhook.review.access import Principal, granted_destinations, grantees_by_destination


def _ports(destination: Destination | None) -> dict[int, str]:
    return {p.number: p.protocol for p in destination.ports} if destination else {}


@dataclass(frozen=True, slots=True)
class DestinationChange:
    """One destination added, removed or changed in what it lets through.

    ``grantees_before``/``grantees_after`` are the identities with an active grant on
    each side: the ones a host or port added (or removed) reaches.
    """

    name: str
    before: Destination | None
    after: Destination | None
    grantees_before: tuple[Principal, ...] = ()
    grantees_after: tuple[Principal, ...] = ()

    @property
    def hosts_added(self) -> tuple[str, ...]:
        old = set(self.before.hosts) if self.before else set()
        return tuple(h for h in (self.after.hosts if self.after else ()) if h not in old)

    @property
    def hosts_removed(self) -> tuple[str, ...]:
        new = set(self.after.hosts) if self.after else set()
        return tuple(h for h in (self.before.hosts if self.before else ()) if h not in new)

    @property
    def ports_added(self) -> tuple[Port, ...]:
        old = _ports(self.before)
        return tuple(p for p in (self.after.ports if self.after else ()) if p.number not in old)

    @property
    def ports_removed(self) -> tuple[Port, ...]:
        new = _ports(self.after)
        return tuple(p for p in (self.before.ports if self.before else ()) if p.number not in new)

    @property
    def protocols_changed(self) -> tuple[tuple[int, str, str], ...]:
        """``(port, protocol before, protocol after)`` for ports listed on both sides."""
        old, new = _ports(self.before), _ports(self.after)
        return tuple(
            (n, old[n], new[n]) for n in sorted(old.keys() & new.keys()) if old[n] != new[n]
        )

    @property
    def access_before(self) -> Access | None:
        return self.before.access if self.before else None

    @property
    def access_after(self) -> Access | None:
        return self.after.access if self.after else None

    @property
    def opened(self) -> bool:
        """Every pod may now request it: a new open destination or a switch to open."""
        return self.access_after is Access.OPEN and self.access_before is not Access.OPEN

    @property
    def gateway_moved(self) -> tuple[str, str] | None:
        if self.before and self.after and self.before.gateway != self.after.gateway:
            return (self.before.gateway, self.after.gateway)
        return None

    @property
    def dlp_patterns_removed(self) -> tuple[str, ...]:
        if self.before is None or self.after is None:
            return ()
        kept = set(self.after.block_body_patterns)
        return tuple(p for p in self.before.block_body_patterns if p not in kept)

    @property
    def tls_origination_changed(self) -> tuple[bool, bool] | None:
        if self.before and self.after and self.before.tls_origination != self.after.tls_origination:
            return (self.before.tls_origination, self.after.tls_origination)
        return None

    @property
    def wildcards_added(self) -> tuple[str, ...]:
        return tuple(h for h in self.hosts_added if is_wildcard(h))

    @property
    def widens(self) -> bool:
        """More names, ports or pods through it, or a DLP guard taken away."""
        return bool(
            self.hosts_added or self.ports_added or self.opened or self.dlp_patterns_removed
        )

    @property
    def widens_restricted(self) -> bool:
        """An existing restricted destination now lets its grantees reach more."""
        return (
            self.before is not None
            and self.access_after is Access.RESTRICTED
            and bool(self.hosts_added or self.ports_added)
        )

    @property
    def affected(self) -> tuple[Principal, ...]:
        """Identities granted it on either side; open access affects every pod besides."""
        return tuple(sorted(set(self.grantees_before) | set(self.grantees_after)))


def _comparable(destination: Destination) -> tuple[object, ...]:
    """What changes access or the data plane; the description and source file do not."""
    return (
        tuple(sorted(destination.hosts)),
        tuple(sorted((p.number, p.protocol) for p in destination.ports)),
        destination.gateway,
        destination.access,
        destination.tls_origination,
        tuple(sorted(destination.block_body_patterns)),
    )


def destination_changes(
    base: Policy, head: Policy, *, now: datetime
) -> tuple[DestinationChange, ...]:
    """Destinations added, removed, or changed in hosts, ports, access, gateway or DLP."""
    found = []
    granted_before = grantees_by_destination(granted_destinations(base, now=now))
    granted_after = grantees_by_destination(granted_destinations(head, now=now))
    for name in sorted(base.destinations.keys() | head.destinations.keys()):
        before, after = base.destinations.get(name), head.destinations.get(name)
        if before and after and _comparable(before) == _comparable(after):
            continue
        found.append(
            DestinationChange(
                name,
                before,
                after,
                grantees_before=granted_before.get(name, ()) if before else (),
                grantees_after=granted_after.get(name, ()) if after else (),
            )
        )
    return tuple(found)


@dataclass(frozen=True, slots=True)
class GatewayChange:
    """A gateway added, removed, or given another namespace or selector.

    A gateway's selector decides which pods receive the traffic of every destination routed
    through it, and its namespace where that traffic may leave, so any change is for review.
    ``destinations`` are those routed through it on either side.
    """

    name: str
    before: Gateway | None
    after: Gateway | None
    destinations: tuple[str, ...]
    default_before: bool = False
    default_after: bool = False


def _routed(policy: Policy, gateway: str) -> set[str]:
    return {d.name for d in policy.destinations.values() if d.gateway == gateway}


def _selector(gateway: Gateway) -> Mapping[str, str]:
    return dict(sorted(gateway.selector.items()))


def gateway_changes(base: Policy, head: Policy) -> tuple[GatewayChange, ...]:
    """Gateways added, removed, moved to another namespace, re-selected, or made the default."""
    old = {g.name: g for g in base.config.gateways}
    new = {g.name: g for g in head.config.gateways}
    old_default = base.config.gateways[0].name if base.config.gateways else None
    new_default = head.config.gateways[0].name if head.config.gateways else None
    found = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        same = (
            before is not None
            and after is not None
            and before.namespace == after.namespace
            and _selector(before) == _selector(after)
        )
        if same and (name == old_default) == (name == new_default):
            continue
        found.append(
            GatewayChange(
                name,
                before,
                after,
                destinations=tuple(sorted(_routed(base, name) | _routed(head, name))),
                default_before=name == old_default,
                default_after=name == new_default,
            )
        )
    return tuple(found)
