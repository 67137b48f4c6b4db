"""node-escape: Pod Security Standards baseline's host controls, at their fields, by value."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.conftest import Judge, PodFactory, make_pod


def _container(**security_context: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "image": "registry.example.com/app:1",
        "securityContext": security_context,
    }


@pytest.mark.parametrize(
    ("spec", "path", "value"),
    [
        ({"hostPID": True}, "spec.hostPID", "true"),
        ({"hostIPC": "true"}, "spec.hostIPC", "true"),
        (
            {"volumes": [{"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}]},
            "spec.volumes[name=sock].hostPath",
            "/var/run/docker.sock",
        ),
        (
            {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
            "spec.securityContext.seccompProfile.type",
            "Unconfined",
        ),
        (
            {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}},
            "spec.securityContext.appArmorProfile.type",
            "Unconfined",
        ),
        (
            {"securityContext": {"seLinuxOptions": {"user": "system_u"}}},
            "spec.securityContext.seLinuxOptions.user",
            "system_u",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_pod_level_host_controls_are_refused_at_their_field(
    judge: Judge, pod: PodFactory, spec: dict[str, Any], path: str, value: str
) -> None:
    decision = judge(pod(**spec))
    assert decision.codes == ("node-escape",)
    assert [(v.path, v.value) for v in decision.violations] == [(path, value)]


@pytest.mark.parametrize(
    ("security_context", "field", "value"),
    [
        ({"capabilities": {"add": ["SYS_ADMIN"]}}, "capabilities.add", "SYS_ADMIN"),
        ({"capabilities": {"add": ["cap_sys_ptrace"]}}, "capabilities.add", "SYS_PTRACE"),
        ({"capabilities": {"add": [7]}}, "capabilities.add", "<INT>"),
        ({"seccompProfile": {"type": "Unconfined"}}, "seccompProfile.type", "Unconfined"),
        ({"seccompProfile": "Unconfined"}, "seccompProfile.type", "null"),
        ({"appArmorProfile": {"type": "Unconfined"}}, "appArmorProfile.type", "Unconfined"),
        ({"procMount": "Unmasked"}, "procMount", "Unmasked"),
        ({"seLinuxOptions": {"type": "spc_t"}}, "seLinuxOptions.type", "spc_t"),
        # Types that are no name (the API server refuses these; validate reads them offline).
        ({"seccompProfile": {"type": ["Unconfined"]}}, "seccompProfile.type", '["Unconfined"]'),
        ({"appArmorProfile": {"type": {"Unconfined": 1}}}, "appArmorProfile.type",
         '{"Unconfined": 1}'),
        ({"seLinuxOptions": {"type": ["spc_t"]}}, "seLinuxOptions.type", '["spc_t"]'),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
@pytest.mark.parametrize("list_name", ["containers", "initContainers", "ephemeralContainers"])
def test_container_host_controls_are_refused_in_every_list(
    judge: Judge, list_name: str, security_context: dict[str, Any], field: str, value: str
) -> None:
    pod = make_pod()
    pod["spec"].setdefault(list_name, []).insert(0, {**_container(**security_context), "name": "c"})
    decision = judge(pod)
    assert decision.codes == ("node-escape",)
    (violation,) = decision.violations
    assert violation.path == f"spec.{list_name}[name=c].securityContext.{field}"
    assert violation.value == value


def test_each_capability_outside_baseline_is_its_own_violation(judge: Judge) -> None:
    pod = make_pod(containers=[_container(capabilities={"add": ["SYS_ADMIN", "CHOWN", "BPF"]})])
    decision = judge(pod)
    assert sorted(v.value for v in decision.violations) == ["BPF", "SYS_ADMIN"]
    assert 'container "app" adds SYS_ADMIN' in " ".join(decision.messages)


def test_network_capabilities_keep_their_own_code(judge: Judge) -> None:
    pod = make_pod(containers=[_container(capabilities={"add": ["NET_ADMIN", "all", "KILL"]})])
    decision = judge(pod)
    assert decision.codes == ("net-capability",)


def test_baseline_allows_its_own_settings(judge: Judge) -> None:
    allowed = _container(
        capabilities={"add": ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL"]},
        seccompProfile={"type": "Localhost", "localhostProfile": "p.json"},
        appArmorProfile={"type": "RuntimeDefault"},
        procMount="Default",
        seLinuxOptions={"type": "container_init_t", "level": "s0:c1,c2"},
    )
    assert judge(make_pod(containers=[allowed], hostPID=False)).allowed


@pytest.mark.parametrize(
    ("key", "value", "refused"),
    [
        ("container.apparmor.security.beta.kubernetes.io/app", "unconfined", True),
        ("container.apparmor.security.beta.kubernetes.io/app", "runtime/default", False),
        ("container.apparmor.security.beta.kubernetes.io/app", "localhost/strict", False),
        ("container.apparmor.security.beta.kubernetes.io/app", "", False),
        ("Container.AppArmor.security.beta.kubernetes.io/app", "unconfined", True),
        ("seccomp.security.alpha.kubernetes.io/pod", "unconfined", True),
        ("seccomp.security.alpha.kubernetes.io/pod", "docker/default", False),
        ("container.seccomp.security.alpha.kubernetes.io/app", "unconfined", True),
        ("container.seccomp.security.alpha.kubernetes.io/app", "localhost/x.json", False),
    ],
)
def test_annotation_forms_of_seccomp_and_apparmor(
    judge: Judge, key: str, value: str, refused: bool
) -> None:
    decision = judge(make_pod(annotations={key: value}))
    assert decision.codes == (("node-escape",) if refused else ())


def test_unmasked_proc_is_allowed_in_the_pods_own_user_namespace(judge: Judge) -> None:
    container = _container(procMount="Unmasked")
    assert judge(make_pod(containers=[container], hostUsers=False)).allowed
    assert not judge(make_pod(containers=[container], hostUsers="false")).allowed
    assert not judge(make_pod(containers=[container])).allowed


@pytest.mark.parametrize("where", ["livenessProbe", "readinessProbe", "startupProbe"])
def test_probe_hosts_make_the_node_connect(judge: Judge, where: str) -> None:
    container = {"name": "app", "image": "a", where: {"tcpSocket": {"host": "1.2.3.4", "port": 1}}}
    decision = judge(make_pod(containers=[container]))
    assert decision.codes == ("node-escape",)
    assert decision.violations[0].path == f"spec.containers[name=app].{where}.tcpSocket.host"


def test_lifecycle_hook_host_makes_the_node_connect(judge: Judge) -> None:
    hook = {"preStop": {"httpGet": {"host": "evil.example", "path": "/x", "port": 80}}}
    decision = judge(make_pod(containers=[{"name": "app", "image": "a", "lifecycle": hook}]))
    assert decision.violations[0].path == (
        "spec.containers[name=app].lifecycle.preStop.httpGet.host"
    )


def test_update_keeps_a_grandfathered_host_path_and_refuses_another(judge: Judge) -> None:
    old = make_pod(volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}])
    same = make_pod(volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}])
    wider = make_pod(volumes=[{"name": "logs", "hostPath": {"path": "/"}}])
    assert judge(same, operation="UPDATE", old=old).allowed
    assert judge(wider, operation="UPDATE", old=old).codes == ("node-escape",)


def test_update_compares_the_whole_value_not_its_shortened_form(judge: Judge) -> None:
    long = "/var/lib/kubelet/pods/" + "a" * 80
    old = make_pod(volumes=[{"name": "logs", "hostPath": {"path": long + "/logs"}}])
    new = make_pod(volumes=[{"name": "logs", "hostPath": {"path": long + "/root"}}])
    assert judge(new, operation="UPDATE", old=old).codes == ("node-escape",)
