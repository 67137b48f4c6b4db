"""The mesh's own identities: infrastructure pods, proxy-only pods, the proxy's UID and GID,
and the other ways a pod keeps itself out of the capture."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.conftest import Judge, make_pod
from tests.engine.test_mesh import INIT_ARGS, PROXYV2, _injected
from tests.example_policy import CONFIG
from webhook.engine.mesh_containers import mesh_pod
from webhook.engine.podspec import pod_view


def _with_ids(uid: int, gid: int, init_uid: str, **app_context: Any) -> dict[str, Any]:
    args = list(INIT_ARGS)
    args[args.index("-u") + 1] = init_uid
    pod = _injected(args)
    proxy = pod["spec"]["containers"][1]
    proxy["securityContext"] = {"runAsUser": uid, "runAsGroup": gid}
    if app_context:
        pod["spec"]["containers"][0]["securityContext"] = app_context
    return pod


# --- infrastructure identities ----------------------------------------------------------------


def test_infrastructure_identity_is_exempt_from_every_pod_code_but_managed_label(
    judge: Judge,
) -> None:
    agent = make_pod(
        namespace="istio-system",
        service_account="ztunnel",
        hostNetwork=True,
        hostPID=True,
        containers=[{"name": "x", "image": "x", "securityContext": {"privileged": True}}],
        labels={"sidecar.istio.io/inject": "false", "egressguard.io/allow-github": "true"},
    )
    decision = judge(agent)
    assert decision.codes == ("managed-label",)
    del agent["metadata"]["labels"]["egressguard.io/allow-github"]
    assert judge(agent).allowed


def test_an_infrastructure_service_account_counts_only_in_its_namespace(judge: Judge) -> None:
    elsewhere = make_pod(namespace="shop", service_account="ztunnel", hostNetwork=True)
    assert judge(elsewhere).codes == ("host-network",)


# --- proxy-only pods ----------------------------------------------------------------------------


def _gateway(role: str, **pod: Any) -> dict[str, Any]:
    proxy = {"name": "istio-proxy", "image": PROXYV2, "args": ["proxy", role]}
    return make_pod(
        containers=[proxy],
        labels={"sidecar.istio.io/inject": "false", "istio.io/dataplane-mode": "none"},
        securityContext={"runAsUser": 1337, "runAsGroup": 1337},
        **pod,
    )


@pytest.mark.parametrize("role", ["router", "waypoint"])
def test_a_pod_that_is_only_the_meshs_gateway_proxy_is_exempt(judge: Judge, role: str) -> None:
    assert judge(_gateway(role)).allowed


def test_a_proxy_only_pod_with_another_container_is_not(judge: Judge) -> None:
    pod = _gateway("router")
    pod["spec"]["containers"].append({"name": "relay", "image": "registry.example.com/relay:1"})
    # a router beside the pod's own container captures nothing of it (istio-cni skips it)
    assert set(judge(pod).codes) == {"mesh-opt-out", "proxy-uid", "interception-excluded"}


def test_a_sidecar_alone_is_not_a_gateway(judge: Judge) -> None:
    assert not judge(_gateway("sidecar")).allowed


def test_a_gateway_proxy_may_name_the_gateway_template(judge: Judge) -> None:
    pod = _gateway("router", annotations={"inject.istio.io/templates": "gateway"})
    assert judge(pod).allowed


# --- the proxy's UID and GID ----------------------------------------------------------------


def test_the_proxy_ids_come_from_the_meshs_istio_proxy() -> None:
    mesh = mesh_pod(pod_view(_with_ids(1000659999, 1000659998, "1000659999")), CONFIG)
    assert (mesh.proxy_uid, mesh.proxy_gid) == (1000659999, 1000659998)
    assert mesh.protected_uids == {1000659999}
    assert mesh.protected_gids == {1000659999, 1000659998}


def test_an_openshift_proxy_uid_with_matching_init_arguments_is_fine(judge: Judge) -> None:
    assert judge(_with_ids(1000659999, 1000659999, "1000659999")).allowed


def test_init_arguments_must_name_the_proxys_own_uid(judge: Judge) -> None:
    decision = judge(_with_ids(1000659999, 1000659999, "1337"))
    assert decision.codes == ("interception-excluded",)
    assert decision.violations[0].value == "1337"


def test_root_is_never_an_uncaptured_uid(judge: Judge) -> None:
    assert judge(_with_ids(0, 1337, "0")).codes == ("interception-excluded",)


def test_tproxy_proxy_runs_as_root_and_leaves_1337_uncaptured(judge: Judge) -> None:
    assert judge(_with_ids(0, 1337, "1337")).allowed
    decision = judge(_with_ids(0, 1337, "1337", runAsUser=1337))
    assert decision.codes == ("proxy-uid",)


@pytest.mark.parametrize(
    ("field", "value"), [("runAsUser", 1000659999), ("runAsGroup", 1000659999)]
)
def test_another_container_with_the_proxys_ids_is_refused(
    judge: Judge, field: str, value: int
) -> None:
    decision = judge(_with_ids(1000659999, 1000659999, "1000659999", **{field: value}))
    assert decision.codes == ("proxy-uid",)
    assert decision.violations[0].value == str(value)


def test_1337_is_an_ordinary_uid_when_the_proxy_runs_as_another(judge: Judge) -> None:
    assert judge(_with_ids(1000659999, 1000659999, "1000659999", runAsUser=1337)).allowed


# --- mesh-opt-out beyond the inject switch ------------------------------------------------


@pytest.mark.parametrize(
    ("label", "annotation", "opt_out"),
    [
        ("true", "false", False),
        ("false", "true", True),
        (None, "false", True),
        ("", "false", False),  # an empty label is "use the default", and it decides
        (None, None, False),
    ],
)
def test_the_inject_label_decides_over_the_annotation(
    judge: Judge, label: str | None, annotation: str | None, opt_out: bool
) -> None:
    labels = {} if label is None else {"sidecar.istio.io/inject": label}
    annotations = {} if annotation is None else {"sidecar.istio.io/inject": annotation}
    pod = make_pod(labels=labels, annotations=annotations)
    assert judge(pod).codes == (("mesh-opt-out",) if opt_out else ())


@pytest.mark.parametrize(
    ("templates", "opt_out"),
    [
        ("sidecar", False),
        ("sidecar, spire", False),
        ("gateway", True),
        ("grpc-agent", True),
        ("waypoint", True),
        ("", True),
    ],
)
def test_injection_templates_must_add_the_sidecar(
    judge: Judge, templates: str, opt_out: bool
) -> None:
    pod = _injected(INIT_ARGS)
    pod["metadata"]["annotations"] = {"inject.istio.io/templates": templates}
    assert judge(pod).codes == (("mesh-opt-out",) if opt_out else ())


def test_sidecar_status_needs_the_meshs_proxy(judge: Judge) -> None:
    status = {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'}
    assert judge(make_pod(annotations=status)).codes == ("mesh-opt-out",)
    injected = _injected(INIT_ARGS)
    injected["metadata"]["annotations"] = status
    assert judge(injected).allowed


def test_classic_sidecar_with_the_pods_own_init_containers(judge: Judge) -> None:
    pod = _injected(INIT_ARGS)
    pod["metadata"]["annotations"] = {"sidecar.istio.io/nativeSidecar": "false"}
    assert judge(pod).allowed  # only the mesh's init container
    pod["spec"]["initContainers"].insert(
        0, {"name": "migrate", "image": "registry.example.com/m:1"}
    )
    decision = judge(pod)
    assert decision.codes == ("mesh-opt-out",)
    assert decision.violations[0].value == "migrate"
    pod["metadata"]["annotations"] = {"sidecar.istio.io/nativeSidecar": "False"}
    assert judge(pod).allowed  # Istio compares with "false" exactly


def test_an_ephemeral_container_with_a_mesh_name_is_no_opt_out(judge: Judge) -> None:
    pod = make_pod(ephemeralContainers=[{"name": "istio-proxy", "image": "busybox"}])
    assert judge(pod).allowed
