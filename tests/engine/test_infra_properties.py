"""The infrastructure checks never raise, whatever JSON they are given (RELIABILITY 25).

Objects are generated from the field names these checks read, so that hypothesis reaches
deep into their shapes: wrong types at every level, unknown enum values, odd mesh texts.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.admission import request
from tests.engine.infra_policy import NOW, example_policy
from webhook.engine import evaluate, istio, namespaces, network
from webhook.engine.context import Context
from webhook.model.review import AdmissionRequest, UserInfo

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FIELDS = [
    "spec", "metadata", "name", "namespace", "labels", "hosts", "ports", "number", "targetPort",
    "location", "addresses", "endpoints", "address", "network", "configPatches",
    "config_patches", "applyTo", "apply_to", "match", "context", "listener", "filterChain",
    "filter", "subFilter", "patch", "operation", "value", "workloadSelector", "targetRefs",
    "kind", "outboundTrafficPolicy", "mode", "egress", "to", "ipBlock", "cidr", "type",
    "subsets", "notReadyAddresses", "ip", "data", "mesh", "typed_per_filter_config",
    "staticResources", "podSelector", "externalName", "addressType",
]
WORDS = [
    "ALLOW_ANY", "REGISTRY_ONLY", "MESH_INTERNAL", "SIDECAR_OUTBOUND", "SIDECAR_INBOUND",
    "GATEWAY", "CLUSTER", "HTTP_FILTER", "NETWORK_FILTER", "BOOTSTRAP", "REMOVE", "REPLACE",
    "MERGE", "ADD", "Gateway", "envoy.filters.http.rbac", "ORIGINAL_DST", "*", "*.com",
    "github.com", "0.0.0.0/0", "10.0.0.1", "unix:///x", "ExternalName", "FQDN", "istio",
    "istio-injection", "egressguard.io/mode", "enabled", "",
]
MESH_TEXTS = st.sampled_from([
    "outboundTrafficPolicy: {mode: ALLOW_ANY}", "outboundTrafficPolicy:\n  mode: 1\n",
    "a: [\n", "- x\n- y", "{\"a\": [1, {\"b\": null}]}", "a: |\n  b\n c: d\n", "&a x",
]) | st.text(alphabet="ab:-[]{}#'\"&*!|> \n\t", max_size=40)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**33) | st.floats(allow_nan=True)
    | st.sampled_from(WORDS) | st.text(max_size=8) | MESH_TEXTS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), inner, max_size=5),
    max_leaves=40,
)
metadata = st.fixed_dictionaries({}, optional={
    "name": json_values, "namespace": json_values, "labels": json_values,
    "annotations": json_values, "ownerReferences": json_values,
})
objects = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6) | st.builds(
    lambda meta, rest: {**rest, "metadata": meta}, metadata,
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4),
)

KINDS = [
    ("networking.istio.io", "ServiceEntry"), ("networking.istio.io", "EnvoyFilter"),
    ("networking.istio.io", "Sidecar"), ("networking.istio.io", "WorkloadEntry"),
    ("", "ConfigMap"), ("networking.k8s.io", "NetworkPolicy"), ("", "Service"),
    ("", "Endpoints"), ("discovery.k8s.io", "EndpointSlice"), ("", "Namespace"),
]
NAMESPACES = ["", "shop", "istio-system", "istio-egress", "payments-egress"]


def request_for(kind: tuple[str, str], operation: str, new: Any, old: Any, namespace: str,
                name: str) -> AdmissionRequest:
    return request(None if operation == "DELETE" else new, kind=(kind[0], "v1", kind[1]),
                   operation=operation, name=name, namespace=namespace,
                   user=UserInfo("developer@example.com"),
                   old=None if operation == "CREATE" else old)


@SETTINGS
@given(
    kind=st.sampled_from(KINDS), operation=st.sampled_from(["CREATE", "UPDATE", "DELETE"]),
    new=objects, old=st.none() | objects, namespace=st.sampled_from(NAMESPACES),
    name=st.sampled_from(["istio", "x", ""]),
)
def test_evaluate_never_raises_on_infrastructure_kinds(
    kind: tuple[str, str], operation: str, new: dict[str, Any], old: dict[str, Any] | None,
    namespace: str, name: str,
) -> None:
    request = request_for(kind, operation, new, old, namespace, name)
    decision = evaluate(request, example_policy(), now=NOW, namespace_labels={})
    assert decision.allowed or decision.codes
    assert all(v.infrastructure for v in decision.violations)


CHECKS = [istio.judge_service_entry, istio.judge_envoy_filter, istio.judge_sidecar,
          istio.judge_workload_entry, istio.judge_mesh_config, network.judge_network_policy,
          network.judge_service, network.judge_endpoints, network.judge_endpoint_slice,
          namespaces.judge_namespace]


@SETTINGS
@given(obj=objects, namespace=st.sampled_from(NAMESPACES), mesh=MESH_TEXTS)
def test_every_check_reads_any_shape(obj: dict[str, Any], namespace: str, mesh: str) -> None:
    request = request_for(("", "ConfigMap"), "CREATE", obj, None, namespace, "istio")
    ctx = Context(request=request, policy=example_policy(), now=NOW, namespace=namespace,
                  trusted=False)
    for check in CHECKS:
        check(ctx, obj)
    istio.judge_mesh_config(ctx, {"data": {"mesh": mesh}})
    for old, new in ((obj, None), (None, obj), (obj, obj)):
        network.judge_network_policy_change(ctx, old, new)
        namespaces.judge_namespace_change(ctx, old, new)


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": [value]}
    return value


def test_deeply_nested_objects_are_judged_without_raising() -> None:
    def policy() -> dict[str, Any]:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "np", "namespace": "istio-egress"},
                "spec": {"podSelector": {}, "x": deep(3000)}}

    # Too deep to compare: judged as a change, which a gateway namespace refuses.
    update = request_for(("networking.k8s.io", "NetworkPolicy"), "UPDATE", policy(), policy(),
                         "istio-egress", "np")
    assert not evaluate(update, example_policy(), now=NOW, namespace_labels={}).allowed
    envoy_filter = {"spec": {"x": deep(3000), "configPatches": [
        {"match": {"context": "SIDECAR_INBOUND"}, "patch": {"value": deep(3000)}}]}}
    create = request_for(("networking.istio.io", "EnvoyFilter"), "UPDATE", envoy_filter,
                         envoy_filter, "shop", "ef")
    assert evaluate(create, example_policy(), now=NOW, namespace_labels={}).allowed
