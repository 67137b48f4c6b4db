"""From what was seen to the rules that would have admitted it, and nothing more.

Pure: a Policy, the readings and ``now`` in, a :class:`Proposal` out. For each identity and
host:port seen and not already admitted by the rules:

- a host no Destination covers gets a Destination of its own (restricted, one host, the
  ports seen), never ``open`` and never a wildcard: widening is a person's decision;
- a port the covering Destination does not list is added to that Destination (its
  grantees gain it too, which the diff shows);
- the identity gets the grant file ``services/<ns>/<sa>/<host>:<port>.rule``.

Cluster-local hosts are left out (they never leave through a gateway), and so are needs
whose grant expired: renewing a grant is a decision to make by hand, with its new date.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from webhook.engine.entitlement import grant_file
from webhook.engine.hosts_local import is_cluster_local
from webhook.learn.observations import Evidence, Need
from webhook.loader.names import host_pattern_problem
from webhook.model.rules import Access, Policy, Port
from webhook.review.controlled_hosts import ControlledHost, attacker_control

MAX_NAME = 57  # allow-<name> must stay a valid label name
_NOT_NAME = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class NewDestination:
    name: str
    host: str
    ports: tuple[Port, ...]
    description: str
    controlled: ControlledHost | None = None

    @property
    def file(self) -> str:
        return f"destinations/{self.name}.yaml"


@dataclass(frozen=True, slots=True)
class NewGrant:
    need: Need
    reason: str
    controlled: ControlledHost | None = None

    @property
    def file(self) -> str:
        n = self.need
        return grant_file(n.namespace, n.service_account, n.host, n.port)


@dataclass(slots=True)
class Proposal:
    destinations: list[NewDestination] = field(default_factory=list)
    ports_added: dict[str, list[Port]] = field(default_factory=dict)  # existing destination
    grants: list[NewGrant] = field(default_factory=list)
    left_out: list[tuple[Need, str]] = field(default_factory=list)
    admitted_already: int = 0  # needs the rules admit as they are

    @property
    def empty(self) -> bool:
        return not (self.destinations or self.ports_added or self.grants)


def destination_name(host: str, taken: set[str]) -> str:
    """``api.stripe.com`` -> ``api-stripe-com``: a DNS label of at most 57 characters,
    not yet ``taken`` (a counter is appended when it is)."""
    base = _NOT_NAME.sub("-", host.lower()).strip("-") or "destination"
    if len(base) > MAX_NAME - 3:
        digest = hashlib.sha256(host.encode()).hexdigest()[:6]
        base = f"{base[:MAX_NAME - 10].rstrip('-')}-{digest}"
    name, counter = base, 2
    while name in taken:
        name, counter = f"{base}-{counter}", counter + 1
    return name


def protocol_for(port: int, seen: set[str]) -> tuple[str, str]:
    """The protocol to list a port with, and why (written into the proposal)."""
    if len(seen) == 1:
        (only,) = seen
        if only == "TLS":
            return ("HTTPS" if port == 443 else "TLS"), "TLS with SNI seen at a gateway"
        return only, f"{only} seen at a gateway"
    why = "from the port number" if not seen else "mixed traffic at a gateway, from the port"
    if port == 443:
        return "HTTPS", why
    if port == 80:
        return "HTTP", why
    return "TCP", why


def propose(policy: Policy, needs: Mapping[Need, Evidence], *, now: datetime,
            protocols: Mapping[tuple[str, int], set[str]]) -> Proposal:
    """The Destinations, ports and grant files that admit every need seen."""
    proposal = Proposal()
    new_ports: dict[str, dict[int, tuple[str, str]]] = defaultdict(dict)  # host -> port -> proto
    existing_ports: dict[str, dict[int, str]] = defaultdict(dict)
    grants: list[tuple[Need, Evidence]] = []
    for need in sorted(needs):
        if is_cluster_local(need.host, policy.config.cluster_domain):
            proposal.left_out.append((need, "a cluster-local name: it never leaves through a "
                                            "gateway"))
            continue
        destination = policy.destination_for(need.host)
        granted = False
        if destination is not None and destination.access is Access.RESTRICTED:
            mine = [g for g in policy.grants_for(need.namespace, need.service_account)
                    if g.destination == destination.name]
            granted = any(g.active(now) for g in mine)
            if mine and not granted:
                expired = ", ".join(sorted(g.source.path or g.host for g in mine))
                proposal.left_out.append((need, f"its grant expired ({expired}): renew it by "
                                                "hand with a new date"))
                continue
        if destination is not None and destination.lists_port(need.port) and (
                granted or destination.access is Access.OPEN):
            proposal.admitted_already += 1
            continue
        problem = host_pattern_problem(need.host) if destination is None else None
        if problem:
            proposal.left_out.append((need, f"no Destination can hold it: {problem}"))
            continue
        protocol = protocol_for(need.port, protocols.get((need.host, need.port), set()))
        if destination is None:
            new_ports[need.host][need.port] = protocol
        elif not destination.lists_port(need.port):
            existing_ports[destination.name].setdefault(need.port, protocol[0])
        if destination is not None and (granted or destination.access is Access.OPEN):
            continue  # the port alone admits it
        grants.append((need, needs[need]))
    taken = set(policy.destinations)
    for host in sorted(new_ports):
        ports = new_ports[host]
        name = destination_name(host, taken)
        taken.add(name)
        why = "; ".join(f"{n}/{p} {w}" for n, (p, w) in sorted(ports.items()))
        proposal.destinations.append(NewDestination(
            name=name, host=host,
            ports=tuple(Port(n, p) for n, (p, _) in sorted(ports.items())),
            description=f"Proposed by egressguard learn from what was seen ({why}); review "
                        "the protocol and whether other hosts belong here.",
            controlled=attacker_control(host),
        ))
    proposal.ports_added = {
        name: [Port(n, p) for n, p in sorted(ports.items())]
        for name, ports in sorted(existing_ports.items())
    }
    proposal.grants = [
        NewGrant(need, f"Proposed by egressguard learn: {evidence.describe()}.",
                 attacker_control(need.host))
        for need, evidence in grants
    ]
    return proposal
