"""The fence: pods may egress to the internal ranges and nothing else.

In-cluster traffic, the VPC, cluster DNS and the gateways all lie inside the internal ranges,
so the fence leaves them alone; what it takes away is the internet, which then stays
reachable only through a gateway (whose own namespace adds the egress it needs). It is the
layer that turns a capture bypass from "out to the internet" into "out to nothing".

Two shapes:
- ``egressguard-fence``, a NetworkPolicy in every judged namespace, selecting every pod:
  egress to any pod of the cluster and to each internal range, with the cloud metadata and
  resolver addresses carved out by ``except``. NetworkPolicies add up, so a team's own
  policies can only widen it where the webhook lets them.
- one cluster-wide policy in the CNI's own kind, for every namespace but the exempt ones:
  a ClusterNetworkPolicy in the baseline tier (namespaced NetworkPolicies, such as a
  gateway's egress, override it), a Calico GlobalNetworkPolicy
  ordered after the namespaced policies, or a CiliumClusterwideNetworkPolicy. These kinds
  evaluate rules in order or deny first, so the metadata addresses are refused by a rule of
  their own before the internal ranges are allowed. (BaselineAdminNetworkPolicy, which
  ClusterNetworkPolicy replaces, cannot be a fence: its published CRD selects no CIDRs.)
"""

from __future__ import annotations

from collections.abc import Iterable

from webhook.model.addresses import METADATA_RANGES, PRIVATE_RANGES, IPNetwork
from webhook.render.objects import Context, Document, document
from webhook.render.plan import FenceKind

FENCE_NAME = "egressguard-fence"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
EVERYWHERE = ("0.0.0.0/0", "::/0")
# Calico evaluates policies by ascending order; Kubernetes NetworkPolicies get 1000.
CALICO_ORDER = 10000.0
# The lowest precedence inside the baseline tier: other baseline policies come first.
BASELINE_PRIORITY = 1000


def fenced_ranges(ctx: Context) -> tuple[IPNetwork, ...]:
    """The ranges the fence lets pods reach: private ranges and the Config's own."""
    extra = ctx.policy.config.internal_ranges.extra
    return tuple(dict.fromkeys((*PRIVATE_RANGES, *extra)))


def _carved(network: IPNetwork) -> list[str]:
    return [
        str(meta)
        for meta in METADATA_RANGES
        if meta.version == network.version and meta.subnet_of(network)  # type: ignore[arg-type]
    ]


def ip_blocks(ctx: Context) -> list[Document]:
    """One ``ipBlock`` per internal range, the metadata addresses inside it excepted."""
    blocks = []
    for network in fenced_ranges(ctx):
        block: Document = {"cidr": str(network)}
        carved = _carved(network)
        if carved:
            block["except"] = carved
        blocks.append({"ipBlock": block})
    return blocks


def _note(ctx: Context) -> dict[str, str]:
    return {
        ctx.key("note"): (
            "Egress to the cluster and the internal ranges only: the internet is reachable "
            "through an egress gateway alone. Managed by egressguard; edits are put back."
        )
    }


def namespace_fence(ctx: Context, namespace: str) -> Document:
    """``egressguard-fence`` for one namespace."""
    return document(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        ctx.metadata(FENCE_NAME, namespace, annotations=_note(ctx)),
        spec={
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {}}, *ip_blocks(ctx)]}],
        },
    )


def _exempt(ctx: Context) -> list[str]:
    return sorted(ctx.policy.config.exempt_namespaces)


def _judged_namespaces(ctx: Context) -> Document:
    return {
        "matchExpressions": [
            {"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": _exempt(ctx)}
        ]
    }


def _cidrs(networks: Iterable[IPNetwork]) -> list[str]:
    return [str(network) for network in networks]


def _admin_rules(ctx: Context) -> list[Document]:
    return [
        {"name": "metadata", "action": "Deny",
         "to": [{"networks": _cidrs(METADATA_RANGES)}]},
        {"name": "internal", "action": "Accept",
         "to": [{"namespaces": {}}, {"networks": _cidrs(fenced_ranges(ctx))}]},
        {"name": "internet", "action": "Deny", "to": [{"networks": list(EVERYWHERE)}]},
    ]


def cluster_network_policy(ctx: Context) -> Document:
    return document(
        "policy.networking.k8s.io/v1beta1",
        "ClusterNetworkPolicy",
        ctx.metadata(FENCE_NAME, annotations=_note(ctx)),
        spec={
            "tier": "Baseline",
            "priority": BASELINE_PRIORITY,
            "subject": {"namespaces": _judged_namespaces(ctx)},
            "egress": _admin_rules(ctx),
        },
    )


def calico_global_policy(ctx: Context) -> Document:
    exempt = ", ".join(f"'{namespace}'" for namespace in _exempt(ctx))
    return document(
        "crd.projectcalico.org/v1",
        "GlobalNetworkPolicy",
        ctx.metadata(FENCE_NAME, annotations=_note(ctx)),
        spec={
            "order": CALICO_ORDER,
            "namespaceSelector": f"{NAMESPACE_NAME_LABEL} not in {{{exempt}}}",
            "types": ["Egress"],
            "egress": [
                {"action": "Deny", "destination": {"nets": _cidrs(METADATA_RANGES)}},
                {"action": "Allow", "destination": {"nets": _cidrs(fenced_ranges(ctx))}},
                {"action": "Allow", "destination": {"selector": "all()",
                                                    "namespaceSelector": "all()"}},
                {"action": "Deny"},
            ],
        },
    )


def cilium_clusterwide_policy(ctx: Context) -> Document:
    return document(
        "cilium.io/v2",
        "CiliumClusterwideNetworkPolicy",
        ctx.metadata(FENCE_NAME, annotations=_note(ctx)),
        spec={
            "endpointSelector": {
                "matchExpressions": [
                    {"key": "k8s:io.kubernetes.pod.namespace", "operator": "NotIn",
                     "values": _exempt(ctx)}
                ]
            },
            "egress": [
                {"toEntities": ["cluster"]},
                {"toCIDR": _cidrs(fenced_ranges(ctx))},
            ],
            "egressDeny": [{"toCIDR": _cidrs(METADATA_RANGES)}],
        },
    )


CLUSTER_FENCES = {
    FenceKind.CLUSTER_NETWORK_POLICY: cluster_network_policy,
    FenceKind.CALICO: calico_global_policy,
    FenceKind.CILIUM: cilium_clusterwide_policy,
}
