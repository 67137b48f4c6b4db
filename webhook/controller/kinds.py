"""The kinds ``render`` writes, which are exactly the kinds the controller applies, lists
and prunes (and the RBAC in deploy/ grants)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ManagedKind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


MANAGED_KINDS: tuple[ManagedKind, ...] = (
    ManagedKind("v1", "ConfigMap", "configmaps"),
    ManagedKind("v1", "Service", "services"),
    ManagedKind("apps/v1", "Deployment", "deployments"),
    ManagedKind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    ManagedKind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    ManagedKind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    ManagedKind("networking.istio.io/v1", "ServiceEntry", "serviceentries"),
    ManagedKind("networking.istio.io/v1", "Gateway", "gateways"),
    ManagedKind("networking.istio.io/v1", "VirtualService", "virtualservices"),
    ManagedKind("networking.istio.io/v1", "DestinationRule", "destinationrules"),
    ManagedKind("networking.istio.io/v1alpha3", "EnvoyFilter", "envoyfilters"),
    ManagedKind("security.istio.io/v1", "AuthorizationPolicy", "authorizationpolicies"),
    ManagedKind("extensions.istio.io/v1alpha1", "TrafficExtension", "trafficextensions"),
    ManagedKind("gateway.networking.k8s.io/v1", "Gateway", "gateways"),
    ManagedKind("policy.networking.k8s.io/v1beta1", "ClusterNetworkPolicy",
                "clusternetworkpolicies", namespaced=False),
    ManagedKind("crd.projectcalico.org/v1", "GlobalNetworkPolicy", "globalnetworkpolicies",
                namespaced=False),
    ManagedKind("cilium.io/v2", "CiliumClusterwideNetworkPolicy",
                "ciliumclusterwidenetworkpolicies", namespaced=False),
)

_BY_TYPE = {(kind.api_version, kind.kind): kind for kind in MANAGED_KINDS}


def managed_kind(api_version: str, kind: str) -> ManagedKind:
    """The entry for a rendered object's type; a type missing here is a bug in this table."""
    found = _BY_TYPE.get((api_version, kind))
    if found is None:
        raise KeyError(f"render wrote {api_version} {kind}, which the controller does not "
                       "manage: add it to MANAGED_KINDS and to the RBAC in deploy/")
    return found
