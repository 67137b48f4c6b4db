"""Which check judges which kind of object."""

from __future__ import annotations

from webhook.engine import envoyfilter, istio, namespaces, network, pod_exec, pods
from webhook.engine.context import KindHandler

_WORKLOAD = KindHandler(state=pods.judge_workload)
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
    ("networking.istio.io", "WorkloadEntry"): KindHandler(state=istio.judge_workload_entry),
    ("extensions.istio.io", "WasmPlugin"): KindHandler(state=envoyfilter.judge_proxy_extension),
    ("extensions.istio.io", "TrafficExtension"): KindHandler(
        state=envoyfilter.judge_proxy_extension
    ),
    ("", "ConfigMap"): KindHandler(state=istio.judge_mesh_config),
    ("networking.k8s.io", "NetworkPolicy"): KindHandler(
        state=network.judge_network_policy,
        transition=network.judge_network_policy_change,
        judge_delete=True,
    ),
    ("", "Service"): KindHandler(state=network.judge_service),
    ("", "Endpoints"): KindHandler(state=network.judge_endpoints),
    ("discovery.k8s.io", "EndpointSlice"): KindHandler(state=network.judge_endpoint_slice),
    ("", "Namespace"): KindHandler(
        state=namespaces.judge_namespace, transition=namespaces.judge_namespace_change
    ),
}


def handler_for(group: str, kind: str) -> KindHandler | None:
    return _HANDLERS.get((group, kind))


def judged_kinds() -> tuple[tuple[str, str], ...]:
    """The kinds of objects judged on CREATE and UPDATE."""
    return tuple(key for key, handler in _HANDLERS.items() if not handler.judge_connect)


def connect_kinds() -> tuple[tuple[str, str], ...]:
    """The options kinds judged on CONNECT (``pods/exec``, ``pods/attach``)."""
    return tuple(key for key, handler in _HANDLERS.items() if handler.judge_connect)
