"""NetworkPolicies of the gateways, the same in every mode: the layer that holds even if the
mesh is bypassed.

Per destination, after seeds 000 and 003: ingress to the gateway's pods only from pods
carrying the destination's entitlement label (any namespace), on the ports its traffic arrives
on; and the gateway pods' egress to public addresses on the ports they dial (the one place open
egress is allowed). Workload namespaces get the fence (:mod:`webhook.render.fence`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice

from webhook.model.addresses import PRIVATE_RANGES
from webhook.render.objects import Context, Document, bounded_name, document
from webhook.render.plan import DNS_PORT, ISTIOD_XDS_PORT, DestinationPlan

API = "networking.k8s.io/v1"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

# Outside the private ranges but never a destination: unroutable, loopback, link-local
# (cloud metadata at 169.254.169.254), multicast, reserved. (The API server refuses
# IPv4-mapped IPv6 ranges in an ipBlock; such addresses never appear on the wire.)
_EXTRA_V4 = ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")
_EXTRA_V6 = ("::1/128", "fe80::/10", "ff00::/8")


def _sorted_networks(cidrs: Iterable[str]) -> list[str]:
    return sorted(set(cidrs), key=lambda c: ipaddress.ip_network(c).network_address.packed)


PUBLIC_V4_EXCEPT = _sorted_networks(
    [str(n) for n in PRIVATE_RANGES if n.version == 4] + list(_EXTRA_V4)
)
PUBLIC_V6_EXCEPT = _sorted_networks(
    [str(n) for n in PRIVATE_RANGES if n.version == 6] + list(_EXTRA_V6)
)


@dataclass(frozen=True, slots=True)
class GatewayPods:
    """The pods a destination's traffic enters and leaves the cluster from."""

    namespace: str
    selector: Mapping[str, str]
    # Pod ports the destination's traffic arrives on.
    ports: tuple[int, ...]
    # Pod port -> the other destinations whose entitled pods reach these pods on it: the
    # first SHARED_SHOWN of them, and how many there are in all.
    shared_with: Mapping[int, tuple[str, ...]]
    shared_count: Mapping[int, int] = field(default_factory=dict)


# A gateway may carry thousands of destinations: the annotation naming the others on a
# port shows this many and counts the rest, so each policy stays small.
SHARED_SHOWN = 10


def others_on(names: Sequence[str], own: str) -> tuple[tuple[str, ...], int]:
    """The first SHARED_SHOWN of ``names`` but ``own`` (which ``names`` holds), and how many
    others there are; without copying ``names``, so a gateway of n destinations is O(n)."""
    shown = tuple(islice((name for name in names if name != own), SHARED_SHOWN))
    return shown, len(names) - 1


def _and_more(count: int) -> str:
    return f" and {count:,} more" if count > 0 else ""


def tcp_ports(numbers: Iterable[int]) -> list[Document]:
    return [{"protocol": "TCP", "port": number} for number in sorted(set(numbers))]


def dns_ports() -> list[Document]:
    return [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}]


def pods_in(namespace: str, selector: Mapping[str, str]) -> Document:
    return {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}},
        "podSelector": {"matchLabels": dict(sorted(selector.items()))},
    }


def cluster_dns_rule() -> Document:
    return {"to": [pods_in("kube-system", {"k8s-app": "kube-dns"})], "ports": dns_ports()}


def istiod_rule(root_namespace: str) -> Document:
    return {
        "to": [pods_in(root_namespace, {"app": "istiod"})],
        "ports": tcp_ports([ISTIOD_XDS_PORT]),
    }


def public_egress_rule(ports: Iterable[int]) -> Document:
    return {
        "to": [
            {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PUBLIC_V4_EXCEPT)}},
            {"ipBlock": {"cidr": "::/0", "except": list(PUBLIC_V6_EXCEPT)}},
        ],
        "ports": tcp_ports(ports),
    }


def resolver_rule(resolvers: Iterable[str]) -> Document:
    blocks = []
    for resolver in resolvers:
        address = ipaddress.ip_address(resolver)
        blocks.append({"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}})
    return {"to": blocks, "ports": dns_ports()}


def destination_policies(
    ctx: Context,
    plan: DestinationPlan,
    pods: GatewayPods,
    *,
    extra_egress: Iterable[Document] = (),
) -> list[Document]:
    """Ingress from the entitled pods and egress to the internet, for one destination."""
    label = ctx.entitlement_label(plan)
    annotations = {}
    shared = {port: others for port, others in sorted(pods.shared_with.items()) if others}
    if shared:
        annotations[ctx.key("shared-port")] = "; ".join(
            f"port {port} of these pods also carries {', '.join(others)}"
            + _and_more(pods.shared_count.get(port, len(others)) - len(others))
            for port, others in shared.items()
        ) + (
            ": a pod entitled to any of them can connect; the mesh's AuthorizationPolicy "
            f"admits only {plan.name}'s principals to {plan.name}'s hosts"
        )
    selector = {"matchLabels": dict(sorted(pods.selector.items()))}
    ingress = document(
        API,
        "NetworkPolicy",
        ctx.metadata(bounded_name(plan.name, "ingress"), pods.namespace, annotations=annotations),
        spec={
            "podSelector": selector,
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {"matchLabels": {label: "true"}},
                        }
                    ],
                    "ports": tcp_ports(pods.ports),
                }
            ],
        },
    )
    upstream = sorted({plan.upstream_port(port) for port in plan.ports})
    egress = document(
        API,
        "NetworkPolicy",
        ctx.metadata(bounded_name(plan.name, "egress"), pods.namespace),
        spec={
            "podSelector": selector,
            "policyTypes": ["Egress"],
            "egress": [public_egress_rule(upstream), *extra_egress],
        },
    )
    return [ingress, egress]


def gateway_control_plane_policy(
    ctx: Context, namespace: str, selector: Mapping[str, str]
) -> Document:
    """An Istio gateway's own needs once its egress is policed: DNS and istiod's xDS."""
    return document(
        API,
        "NetworkPolicy",
        ctx.metadata("egressguard-gateway-control-plane", namespace),
        spec={
            "podSelector": {"matchLabels": dict(sorted(selector.items()))},
            "policyTypes": ["Egress"],
            "egress": [cluster_dns_rule(), istiod_rule(ctx.policy.config.mesh_root_namespace)],
        },
    )
