"""Pods and pod templates end to end through evaluate(): codes, field paths, UPDATE diffs.

Also the property that the pod checks never raise, whatever JSON they are handed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.admission import request
from tests.engine.conftest import KINDS, Judge, PodFactory, make_pod
from tests.example_policy import NOW, example_policy
from webhook.engine.context import Context
from webhook.engine.pods import judge_pod, judge_workload
from webhook.model.review import UserInfo

NET_ADMIN = {"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}


# --- pod security ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "code", "path"),
    [
        ({"hostNetwork": True}, "host-network", "spec.hostNetwork"),
        ({"hostNetwork": "true"}, "host-network", "spec.hostNetwork"),
        (
            {"securityContext": {"windowsOptions": {"hostProcess": True}}},
            "host-network",
            "spec.securityContext.windowsOptions.hostProcess",
        ),
        ({"securityContext": {"runAsUser": 1337}}, "proxy-uid", "spec.securityContext.runAsUser"),
        (
            {"securityContext": {"runAsGroup": "1337"}},
            "proxy-uid",
            "spec.securityContext.runAsGroup",
        ),
        ({"dnsPolicy": "Default"}, "dns-override", "spec.dnsPolicy"),
        (
            {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.96.0.10", "8.8.8.8"]}},
            "dns-override",
            "spec.dnsConfig.nameservers[1]",
        ),
        (
            {
                "hostAliases": [
                    {"ip": "1.2.3.4", "hostnames": ["x.internal", "files.pythonhosted.org"]}
                ]
            },
            "host-alias",
            "spec.hostAliases[0].hostnames[1]",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_pod_level_settings_are_refused_at_their_field(
    judge: Judge, pod: PodFactory, spec: dict[str, Any], code: str, path: str
) -> None:
    decision = judge(pod(**spec))
    assert decision.codes == (code,)
    assert [v.path for v in decision.violations] == [path]


@pytest.mark.parametrize(
    ("security_context", "code"),
    [
        ({"capabilities": {"add": ["NET_ADMIN"]}}, "net-capability"),
        ({"capabilities": {"add": ["net_raw"]}}, "net-capability"),
        ({"capabilities": {"add": ["CAP_NET_RAW"]}}, "net-capability"),
        ({"capabilities": {"add": ["cap_all"]}}, "net-capability"),
        ({"capabilities": {"add": " NET_ADMIN "}}, "net-capability"),  # a lone string
        ({"privileged": True}, "privileged"),
        ({"runAsUser": 1337}, "proxy-uid"),
        ({"runAsUser": 1337.0}, "proxy-uid"),
        ({"runAsGroup": " 1337 "}, "proxy-uid"),
        ({"windowsOptions": {"hostProcess": True}}, "host-network"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("list_name", ["containers", "initContainers", "ephemeralContainers"])
def test_container_settings_are_refused_in_every_container_list(
    judge: Judge, list_name: str, security_context: dict[str, Any], code: str
) -> None:
    container = {
        "name": "c",
        "image": "registry.example.com/c:1",
        "securityContext": security_context,
    }
    pod = make_pod()  # one plain app container
    pod["spec"].setdefault(list_name, []).insert(0, container)
    decision = judge(pod)
    assert decision.codes == (code,)
    assert decision.violations[0].path.startswith(f"spec.{list_name}[name=c].securityContext.")


@pytest.mark.parametrize(
    "security_context",
    [
        {"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"], "drop": ["NET_RAW", "ALL"]}},
        {"privileged": False, "runAsUser": 1000, "runAsGroup": 13370},
        {"runAsUser": True},
    ],
    ids=repr,
)
def test_harmless_container_settings_are_allowed(
    judge: Judge, security_context: dict[str, Any]
) -> None:
    pod = make_pod(containers=[{"name": "c", "image": "x", "securityContext": security_context}])
    assert judge(pod).allowed


def test_messages_name_the_container_and_what_to_change(judge: Judge) -> None:
    pod = make_pod(
        containers=[{"name": "app", "image": "x"}, {"name": "vpn", "image": "y", **NET_ADMIN}]
    )
    decision = judge(pod)
    assert 'container "vpn" adds NET_ADMIN' in decision.messages[0]
    assert "remove it" in decision.messages[0]


# --- modes -----------------------------------------------------------------------------------


def test_unknown_mode_value_is_enforce_with_a_warning(judge: Judge, pod: PodFactory) -> None:
    decision = judge(pod(hostNetwork=True), mode="audit")
    assert not decision.allowed
    assert decision.codes == ("host-network",)
    assert any("judged in enforce mode" in w for w in decision.warnings)


def test_warn_mode_admits_lists_and_warns_and_still_patches(judge: Judge, pod: PodFactory) -> None:
    decision = judge(pod(service_account="checkout", dnsPolicy="Default"), mode="warn")
    assert decision.allowed
    assert decision.codes == ("dns-override",)
    assert any(w.startswith("dns-override: ") for w in decision.warnings)
    assert len(decision.patch) == 3


def test_off_mode_admits_silently(judge: Judge, pod: PodFactory) -> None:
    decision = judge(pod(hostNetwork=True), mode="off")
    assert decision.allowed
    assert decision.codes == ()
    assert decision.warnings == ()


# --- workloads --------------------------------------------------------------------------------


def _workload(kind: str, pod_spec: dict[str, Any]) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "w"}}, "spec": pod_spec}
    spec: dict[str, Any] = (
        {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
        if kind == "CronJob"
        else {"selector": {"matchLabels": {"app": "w"}}, "template": template}
    )
    group = KINDS[kind].group
    return {
        "apiVersion": f"{group}/v1" if group else "v1",
        "kind": kind,
        "metadata": {"name": "w", "namespace": "shop"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [
        ("Deployment", "spec.template.spec"),
        ("ReplicaSet", "spec.template.spec"),
        ("StatefulSet", "spec.template.spec"),
        ("DaemonSet", "spec.template.spec"),
        ("Job", "spec.template.spec"),
        ("CronJob", "spec.jobTemplate.spec.template.spec"),
    ],
)
def test_workload_templates_are_judged_with_paths_relative_to_the_object(
    judge: Judge, kind: str, prefix: str
) -> None:
    plain = {"name": "app", "image": "registry.example.com/app:1"}
    bad = {"name": "vpn", "image": "registry.example.com/vpn:1", **NET_ADMIN}
    decision = judge(_workload(kind, {"containers": [plain, bad]}))
    assert not decision.allowed
    assert decision.violations[0].path == (
        f"{prefix}.containers[name=vpn].securityContext.capabilities.add"
    )
    assert judge(_workload(kind, {"containers": [plain]})).allowed


def test_template_labels_have_template_paths(judge: Judge) -> None:
    workload = _workload("Deployment", {"containers": [{"name": "a", "image": "b"}]})
    workload["spec"]["template"]["metadata"]["labels"]["egressguard.io/allow-stripe"] = "true"
    decision = judge(workload)
    assert decision.violations[0].path == (
        'spec.template.metadata.labels["egressguard.io/allow-stripe"]'
    )


def test_exception_for_a_service_account_covers_its_templates(judge: Judge) -> None:
    spec = {
        "serviceAccountName": "vpn-client",
        "containers": [{"name": "v", "image": "v", **NET_ADMIN}],
    }
    workload = _workload("DaemonSet", spec)
    workload["metadata"]["namespace"] = "legacy"
    decision = judge(workload)
    assert decision.allowed
    assert any("legacy-vpn" in w for w in decision.warnings)
    assert not judge(workload, now=datetime(2027, 4, 1, tzinfo=UTC)).allowed


# --- UPDATE and the ephemeralcontainers subresource ------------------------------------------


def test_update_refuses_only_what_it_introduces(judge: Judge) -> None:
    old = make_pod(hostNetwork=True)
    new = make_pod(hostNetwork=True, containers=[{"name": "app", "image": "x", **NET_ADMIN}])
    decision = judge(new, operation="UPDATE", old=old)
    assert not decision.allowed
    assert decision.codes == ("net-capability",)
    assert any(w.startswith("host-network (already present") for w in decision.warnings)


def test_update_adding_an_entitlement_label_is_refused(judge: Judge, pod: PodFactory) -> None:
    old = pod(service_account="web", labels={"app": "web"})
    new = pod(service_account="web", labels={"app": "web", "egressguard.io/allow-github": "true"})
    decision = judge(new, operation="UPDATE", old=old, mode="warn")
    assert not decision.allowed
    assert decision.codes == ("managed-label",)


def test_debug_container_with_net_admin_is_refused(judge: Judge, pod: PodFactory) -> None:
    old = pod()
    new = pod(ephemeralContainers=[{"name": "debugger", "image": "nicolaka/netshoot", **NET_ADMIN}])
    decision = judge(new, operation="UPDATE", old=old, sub_resource="ephemeralcontainers")
    assert decision.codes == ("net-capability",)
    assert decision.violations[0].path == (
        "spec.ephemeralContainers[name=debugger].securityContext.capabilities.add"
    )


# --- never raise ------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(
        [
            "1337",
            "true",
            "NET_ADMIN",
            "Default",
            "None",
            "*",
            "",
            "auto",
            "istio-init",
            "istio-proxy",
            "proxy",
            "istio-iptables",
            "pilot-agent",
            "docker.io/istio/proxyv2",
            "-x",
            "--outbound-ports-exclude=1",
            "api.stripe.com:443, x",
            '{"a": 1}',
            "a: 1\n  b",
            "false",
        ]
    )
)
keys = st.sampled_from(
    [
        "metadata",
        "spec",
        "labels",
        "annotations",
        "template",
        "jobTemplate",
        "containers",
        "initContainers",
        "ephemeralContainers",
        "securityContext",
        "capabilities",
        "add",
        "privileged",
        "runAsUser",
        "runAsGroup",
        "hostNetwork",
        "windowsOptions",
        "hostProcess",
        "dnsPolicy",
        "dnsConfig",
        "nameservers",
        "hostAliases",
        "hostnames",
        "name",
        "image",
        "command",
        "args",
        "env",
        "envFrom",
        "value",
        "valueFrom",
        "serviceAccountName",
        "serviceAccount",
        "egressguard.io/egress",
        "proxy.istio.io/config",
        "sidecar.istio.io/inject",
        "egressguard.io/allow-stripe",
        "istio",
    ]
) | st.text(max_size=6)
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=40,
)


def test_mesh_container_command_of_any_shape_is_judged_not_raised(judge: Judge) -> None:
    for command in ([["pilot-agent"]], [{"a": 1}], "pilot-agent", [None], {"0": "x"}):
        container = {
            "name": "istio-init",
            "image": "docker.io/istio/proxyv2:1",
            "command": command,
            "args": ["istio-iptables"],
            **NET_ADMIN,
        }
        decision = judge(make_pod(initContainers=[container]))
        assert decision.codes == ("net-capability", "mesh-opt-out")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    obj=st.dictionaries(keys, json_like, max_size=4),
    kind=st.sampled_from(sorted(KINDS)),
    operation=st.sampled_from(["CREATE", "UPDATE"]),
    namespace=st.sampled_from(["shop", "legacy", "", "istio-egress"]),
)
def test_pod_checks_never_raise_on_any_json(
    obj: dict[str, Any], kind: str, operation: str, namespace: str
) -> None:
    judged = request(obj, kind=KINDS[kind], operation=operation, namespace=namespace,
                     name="", user=UserInfo("dev"))
    ctx = Context(request=judged, policy=POLICY, now=NOW, namespace=namespace, trusted=False)
    found = judge_pod(ctx, obj) if kind == "Pod" else judge_workload(ctx, obj)
    assert all(len(v.message) < 200 for v in found.violations)
    assert all(isinstance(op["path"], str) for op in found.patch)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return value | json_like


containers = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "name": _maybe(st.sampled_from(["istio-init", "istio-proxy", "istio-validation"])),
            "image": _maybe(
                st.sampled_from(
                    [
                        "istio/proxyv2:1",
                        "gcr.io/istio-release/proxyv2",
                        "auto",
                        "docker.io/istio/proxyv2@sha256:x",
                    ]
                )
            ),
            "command": _maybe(
                st.lists(st.sampled_from(["pilot-agent", "istio-iptables"]), max_size=2)
            ),
            "args": _maybe(
                st.lists(
                    st.sampled_from(
                        [
                            "proxy",
                            "istio-iptables",
                            "-x",
                            "-u",
                            "-i=*",
                            "--proxy-uid",
                            "-nx1",
                            "1337",
                        ]
                    ),
                    max_size=6,
                )
            ),
            "env": _maybe(
                st.lists(
                    st.fixed_dictionaries(
                        {"name": _maybe(st.sampled_from(["PROXY_UID", "ISTIO_SERVICE_CIDR"]))},
                        optional={"value": json_like, "valueFrom": json_like},
                    ),
                    max_size=2,
                )
            ),
            "securityContext": _maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "capabilities": _maybe(st.fixed_dictionaries({"add": json_like})),
                        "privileged": json_like,
                        "runAsUser": json_like,
                        "runAsGroup": json_like,
                        "windowsOptions": _maybe(st.fixed_dictionaries({"hostProcess": json_like})),
                    },
                )
            ),
        },
    )
    | json_like,
    max_size=3,
)
string_maps = st.dictionaries(keys, json_like, max_size=5) | json_like
pod_specs = st.fixed_dictionaries(
    {},
    optional={
        "containers": containers | json_like,
        "initContainers": containers,
        "ephemeralContainers": containers,
        "serviceAccountName": json_like,
        "hostNetwork": json_like,
        "dnsPolicy": json_like,
        "securityContext": json_like,
        "dnsConfig": _maybe(st.fixed_dictionaries({"nameservers": json_like})),
        "hostAliases": _maybe(
            st.lists(st.fixed_dictionaries({"hostnames": json_like}), max_size=2)
        ),
    },
)
pod_shaped = st.fixed_dictionaries(
    {
        "kind": st.just("Pod"),
        "metadata": _maybe(
            st.fixed_dictionaries({}, optional={"labels": string_maps, "annotations": string_maps})
        ),
        "spec": _maybe(pod_specs),
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=pod_shaped, operation=st.sampled_from(["CREATE", "UPDATE"]))
def test_pod_checks_never_raise_on_pod_shaped_json_with_hostile_leaves(
    obj: dict[str, Any], operation: str
) -> None:
    judged = request(obj, kind=KINDS["Pod"], operation=operation, namespace="shop", name="",
                     user=UserInfo("dev"))
    ctx = Context(request=judged, policy=POLICY, now=NOW, namespace="shop", trusted=False)
    found = judge_pod(ctx, obj)
    assert all(len(v.message) < 200 for v in found.violations)


POLICY = example_policy()
