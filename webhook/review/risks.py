"""Risk flags: the parts of a rules change a reviewer must not wave through.

Each flag is one sentence saying what widens and for whom. They are the changes that look
small in the files and are large in effect: one ``access: open`` line, one wildcard host,
one more host on a destination with fifty grantees, one exception, one grant to a host
anyone can publish on (:mod:`webhook.review.controlled_hosts`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from webhook.model.rules import Access
from webhook.review import wording
from webhook.review.access import Principal
from webhook.review.access_changes import Direction
from webhook.review.controlled_hosts import ControlledHost, attacker_control
from webhook.review.destinations import DestinationChange
from webhook.review.diff import PolicyDiff


class RiskKind(enum.StrEnum):
    OPEN_ACCESS = "open-access"
    WILDCARD_HOST = "wildcard-host"
    WIDENED_RESTRICTED = "widened-restricted-destination"
    ATTACKER_CONTROLLED = "attacker-controlled-host"
    EXCEPTION = "exception"
    DLP = "dlp"
    GATEWAY = "gateway"
    CONFIG = "config"


@dataclass(frozen=True, slots=True)
class RiskFlag:
    kind: RiskKind
    message: str


def _added(change: DestinationChange) -> str:
    parts = []
    if change.hosts_added:
        parts.append(f"host {wording.names(change.hosts_added)}")
    if change.ports_added:
        parts.append(f"port {wording.ports(change.ports_added)}")
    return " and ".join(parts)


def _destination_flags(change: DestinationChange) -> list[RiskFlag]:
    flags = []
    name = change.name
    if change.after is not None and change.opened:
        flags.append(
            RiskFlag(
                RiskKind.OPEN_ACCESS,
                f"destination {name} is now open: any pod that requests it reaches "
                f"{wording.endpoints(change.after)}, no grant needed",
            )
        )
    elif change.before is not None and change.access_after is Access.OPEN and _added(change):
        flags.append(
            RiskFlag(
                RiskKind.OPEN_ACCESS,
                f"open destination {name} adds {_added(change)}: any pod that requests it "
                "reaches them",
            )
        )
    flags.extend(
        RiskFlag(
            RiskKind.WILDCARD_HOST,
            f"destination {name} adds wildcard {host}: every name under it, including ones "
            "created later",
        )
        for host in change.wildcards_added
    )
    if change.widens_restricted:
        # Grantees new in this change are explained by their own grant file.
        existing = [p for p in change.grantees_after if p in set(change.grantees_before)]
        if existing:
            who = f"{wording.plural(len(existing), 'grantee')} ({wording.principals(existing)})"
            verb = "gains" if len(existing) == 1 else "gain"
            effect = f"its {who} {verb} access with no grant of their own"
        else:
            effect = "no identity held it before this change"
        flags.append(
            RiskFlag(
                RiskKind.WIDENED_RESTRICTED,
                f"restricted destination {name} adds {_added(change)}: {effect}",
            )
        )
    if change.dlp_patterns_removed:
        patterns = wording.names(repr(p) for p in change.dlp_patterns_removed)
        flags.append(
            RiskFlag(
                RiskKind.DLP,
                f"destination {name} no longer refuses request bodies containing {patterns}",
            )
        )
    moved = change.gateway_moved
    if moved is not None:
        flags.append(
            RiskFlag(
                RiskKind.GATEWAY,
                f"destination {name} moves from gateway {moved[0]} to gateway {moved[1]}",
            )
        )
    return flags


def _controlled_flags(diff: PolicyDiff) -> list[RiskFlag]:
    """One flag per host anyone can publish on that someone gains, naming who gains it."""
    gains: dict[str, tuple[ControlledHost, set[int], set[Principal]]] = {}
    for change in diff.access:
        if change.direction is not Direction.GAINS:
            continue
        for reach in change.reaches:
            controlled = attacker_control(reach.host)
            if controlled is None:
                continue
            _, ports, principals = gains.setdefault(reach.host, (controlled, set(), set()))
            ports.add(reach.port)
            principals.add(change.principal)
    flags = []
    for host, (controlled, ports, principals) in sorted(gains.items()):
        what = f"{host}:{','.join(str(p) for p in sorted(ports))}"
        if controlled.covers:
            what += f" (covers {controlled.domain})"
        if any(p.is_everyone for p in principals):
            advice = "any pod that requests it gains it: keep such a destination restricted"
        else:
            who = wording.principals(sorted(principals))
            advice = f"gained by {who}: grant it only to the service accounts that need it"
        flags.append(RiskFlag(RiskKind.ATTACKER_CONTROLLED,
                              f"{what} gives an attacker control ({controlled.reason}); {advice}"))
    return flags


def risk_flags(diff: PolicyDiff) -> tuple[RiskFlag, ...]:
    """Every flag the diff raises, ordered by kind (the most serious first)."""
    flags: list[RiskFlag] = []
    for change in diff.destinations:
        flags.extend(_destination_flags(change))
    flags.extend(_controlled_flags(diff))
    for exception in diff.exceptions:
        if exception.widens and exception.after is not None:
            flags.append(
                RiskFlag(
                    RiskKind.EXCEPTION,
                    f"exception {exception.name} {wording.waiver(exception.after)}",
                )
            )
    for gateway in diff.gateways:
        what = wording.gateway_change(
            gateway.before,
            gateway.after,
            default_before=gateway.default_before,
            default_after=gateway.default_after,
        )
        carries = wording.names(gateway.destinations) or "no destination"
        flags.append(
            RiskFlag(RiskKind.GATEWAY, f"gateway {gateway.name}: {what} (carries {carries})")
        )
    flags.extend(
        RiskFlag(RiskKind.CONFIG, f"config.yaml {s.describe()}") for s in diff.settings if s.widens
    )
    order = list(RiskKind)
    return tuple(sorted(flags, key=lambda f: order.index(f.kind)))
