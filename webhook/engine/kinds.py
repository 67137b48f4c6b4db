"""Which check judges which kind of object."""

from __future__ import annotations

from webhook.engine import (
    cilium,
    cilium_envoy,
    cni_policies,
    envoyfilter,
    gateways,
    injector,
    istio,
    mesh_deletion,
    namespaces,
    network,
    pod_exec,
    pods,
    proxy_config_kind,
    routes,
)
from webhook.engine.context import Context, Findings, KindHandler, StateCheck
from webhook.model.review import JSONObject


def _all_of(*checks: StateCheck) -> StateCheck:
    """One state check that reports what each of ``checks`` finds."""

    def judge(ctx: Context, obj: JSONObject) -> Findings:
        violations = tuple(v for check in checks for v in check(ctx, obj).violations)
        return Findings(violations=violations)

    return judge


_PROXY_EXTENSION = KindHandler(
    state=_all_of(envoyfilter.judge_proxy_extension, gateways.judge_extension_targets)
)
_SECURITY_POLICY = KindHandler(state=gateways.judge_security_policy)
_ROUTE = KindHandler(state=routes.judge_route)
GATEWAY_API = "gateway.networking.k8s.io"

_WORKLOAD = KindHandler(state=pods.judge_workload)


def _fence(state: StateCheck) -> KindHandler:
    """A policy kind of the fence: open egress, and changes in gateway namespaces or to
    managed policies (DELETE included), as for Kubernetes NetworkPolicies."""
    return KindHandler(state=state, transition=network.judge_network_policy_change,
                       judge_delete=True)


# The options objects the API server sends with a CONNECT of pods/exec and pods/attach.
_CONNECT = KindHandler(state=pod_exec.judge_connect, judge_connect=True)
_HANDLERS: dict[tuple[str, str], KindHandler] = {
    ("", "Pod"): KindHandler(state=pods.judge_pod),
    ("", "PodExecOptions"): _CONNECT,
    ("", "PodAttachOptions"): _CONNECT,
    ("apps", "Deployment"): _WORKLOAD,
    ("apps", "ReplicaSet"): _WORKLOAD,
    ("apps", "StatefulSet"): _WORKLOAD,
    ("apps", "DaemonSet"): _WORKLOAD,
    ("batch", "Job"): _WORKLOAD,
    ("batch", "CronJob"): _WORKLOAD,
    ("networking.istio.io", "ServiceEntry"): KindHandler(state=istio.judge_service_entry),
    ("networking.istio.io", "EnvoyFilter"): KindHandler(state=istio.judge_envoy_filter),
    ("networking.istio.io", "Sidecar"): KindHandler(state=istio.judge_sidecar),
    ("networking.istio.io", "ProxyConfig"): KindHandler(
        state=proxy_config_kind.judge_proxy_config_kind
    ),
    ("networking.istio.io", "WorkloadEntry"): KindHandler(state=istio.judge_workload_entry),
    ("networking.istio.io", "VirtualService"): KindHandler(state=routes.judge_virtual_service),
    ("networking.istio.io", "DestinationRule"): KindHandler(state=routes.judge_destination_rule),
    ("networking.istio.io", "Gateway"): KindHandler(state=gateways.judge_istio_gateway),
    ("security.istio.io", "AuthorizationPolicy"): _SECURITY_POLICY,
    ("security.istio.io", "RequestAuthentication"): _SECURITY_POLICY,
    ("extensions.istio.io", "WasmPlugin"): _PROXY_EXTENSION,
    ("extensions.istio.io", "TrafficExtension"): _PROXY_EXTENSION,
    (GATEWAY_API, "Gateway"): KindHandler(state=gateways.judge_gateway_api_gateway),
    (GATEWAY_API, "HTTPRoute"): _ROUTE,
    (GATEWAY_API, "GRPCRoute"): _ROUTE,
    (GATEWAY_API, "TLSRoute"): _ROUTE,
    (GATEWAY_API, "TCPRoute"): _ROUTE,
    (GATEWAY_API, "UDPRoute"): _ROUTE,
    (GATEWAY_API, "ListenerSet"): KindHandler(state=gateways.judge_listener_set),
    ("", "ConfigMap"): KindHandler(
        state=_all_of(istio.judge_mesh_config, injector.judge_injector),
        transition=mesh_deletion.judge_mesh_config_deletion, judge_delete=True,
    ),
    ("networking.k8s.io", "NetworkPolicy"): _fence(network.judge_network_policy),
    ("cilium.io", "CiliumNetworkPolicy"): _fence(cilium.judge_cilium_policy),
    ("cilium.io", "CiliumClusterwideNetworkPolicy"): _fence(cilium.judge_cilium_policy),
    ("cilium.io", "CiliumEnvoyConfig"): KindHandler(state=cilium_envoy.judge_envoy_config),
    ("cilium.io", "CiliumClusterwideEnvoyConfig"): KindHandler(
        state=cilium_envoy.judge_envoy_config
    ),
    ("cilium.io", "CiliumLocalRedirectPolicy"): KindHandler(state=network.judge_local_redirect),
    ("crd.projectcalico.org", "NetworkPolicy"): _fence(cni_policies.judge_calico_policy),
    ("crd.projectcalico.org", "GlobalNetworkPolicy"): _fence(cni_policies.judge_calico_policy),
    ("crd.projectcalico.org", "NetworkSet"): KindHandler(
        state=cni_policies.judge_calico_network_set
    ),
    ("crd.projectcalico.org", "GlobalNetworkSet"): KindHandler(
        state=cni_policies.judge_calico_network_set
    ),
    ("policy.networking.k8s.io", "AdminNetworkPolicy"): _fence(cni_policies.judge_admin_policy),
    ("policy.networking.k8s.io", "BaselineAdminNetworkPolicy"): _fence(
        cni_policies.judge_admin_policy
    ),
    ("policy.networking.k8s.io", "ClusterNetworkPolicy"): _fence(cni_policies.judge_admin_policy),
    ("", "Service"): KindHandler(state=network.judge_service),
    ("", "Endpoints"): KindHandler(state=network.judge_endpoints),
    ("discovery.k8s.io", "EndpointSlice"): KindHandler(state=network.judge_endpoint_slice),
    ("", "Namespace"): KindHandler(
        state=namespaces.judge_namespace, transition=namespaces.judge_namespace_change
    ),
}


def _nothing(ctx: Context, obj: JSONObject) -> Findings:
    return Findings()


# A kind with no check of its own that reaches the webhook only for its UPDATEs and DELETEs
# (deploy/ registers HorizontalPodAutoscalers and PodDisruptionBudgets so, because render
# writes them): judged for managed-object alone, as every kind is on UPDATE and DELETE.
MANAGED_ONLY = KindHandler(state=_nothing)


def handler_for(group: str, kind: str) -> KindHandler | None:
    return _HANDLERS.get((group, kind))


def handler_for_operation(group: str, kind: str, operation: str) -> KindHandler | None:
    """The kind's handler; for an UPDATE or DELETE of a kind without one, MANAGED_ONLY, so
    that no write to an object egressguard manages goes unjudged whatever its kind."""
    handler = _HANDLERS.get((group, kind))
    if handler is None and operation in ("UPDATE", "DELETE"):
        return MANAGED_ONLY
    return handler


def judged_kinds() -> tuple[tuple[str, str], ...]:
    """The kinds of objects judged on CREATE and UPDATE."""
    return tuple(key for key, handler in _HANDLERS.items() if not handler.judge_connect)


def connect_kinds() -> tuple[tuple[str, str], ...]:
    """The options kinds judged on CONNECT (``pods/exec``, ``pods/attach``)."""
    return tuple(key for key, handler in _HANDLERS.items() if handler.judge_connect)
