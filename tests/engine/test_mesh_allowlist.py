"""The mesh's own containers judged by allow-list: each setting by its effect."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.conftest import Judge
from tests.engine.test_mesh import INIT_ARGS, _injected
from tests.example_policy import CONFIG
from webhook.engine.proxy_override import ProxyConfigJudge, judge_proxy_config_text


def _proxy(pod: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "istio-proxy")


@pytest.mark.parametrize(
    ("extra", "refused"),
    [
        (["--log_as_json", "--force-apply", "--native-nftables"], False),
        (["-k", "k6t-eth0", "--redirect-dns", "--capture-all-dns"], False),  # add capture
        (["-q", "443", "-e", "15008", "--iptables-probe-port=15002"], False),
        (["-n"], True),
        (["--dry-run=true"], True),
        (["--cleanup-only"], True),
        (["--network-namespace", "/proc/1/ns/net"], True),
        (["--reconcile"], True),  # not what the injector writes
        (["-t", "1"], True),
        (["-p", "15002"], True),
        (["-m", "NONE"], True),
        (["-c", "eth0"], True),
        (["--skip-rule-apply"], True),  # istio-init applies the rules itself
        (["extra-positional"], True),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_istio_iptables_flags(judge: Judge, extra: list[str], refused: bool) -> None:
    decision = judge(_injected([*INIT_ARGS, *extra]))
    assert decision.codes == (("interception-excluded",) if refused else ())


def test_istio_validation_may_skip_rules_only_while_validating(judge: Judge) -> None:
    pod = _injected([*INIT_ARGS, "--run-validation", "--skip-rule-apply"])
    pod["spec"]["initContainers"][0]["name"] = "istio-validation"
    assert judge(pod).allowed
    pod["spec"]["initContainers"][0]["args"] = [*INIT_ARGS, "--skip-rule-apply"]
    assert judge(pod).codes == ("interception-excluded",)
    pod["spec"]["initContainers"][0]["env"] = [{"name": "RUN_VALIDATION", "value": "true"}]
    assert judge(pod).allowed


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({"name": "ISTIO_META_DNS_CAPTURE", "value": "true"}, False),
        ({"name": "INVALID_DROP", "value": "true"}, False),
        ({"name": "ISTIO_OUTBOUND_OWNER_GROUPS", "value": "*"}, False),
        ({"name": "ISTIO_OUTBOUND_OWNER_GROUPS", "value": "1000"}, True),
        ({"name": "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR", "value": "0.0.0.0/0"}, True),
        ({"name": "DRY_RUN", "value": "false"}, False),
        ({"name": "DRY_RUN", "value": "1"}, True),
        ({"name": "SOMETHING_ELSE", "value": "x"}, True),
        ({"name": "ISTIO_META_DNS_CAPTURE", "valueFrom": {"configMapKeyRef": {"name": "c"}}}, True),
    ],
    ids=lambda v: v if isinstance(v, bool) else v["name"],
)
def test_istio_iptables_environment(judge: Judge, env: dict[str, Any], refused: bool) -> None:
    decision = judge(_injected(INIT_ARGS, env=[env]))
    assert decision.codes == (("interception-excluded",) if refused else ())


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["--domain", "x.svc.cluster.local", "--concurrency", "2", "--log_as_json"], False),
        (["--serviceCluster", "web.shop", "--outlierLogPath=/dev/stdout"], False),
        (["--templateFile", "/tmp/t.json"], True),
        (["--meshConfig=/tmp/mesh.yaml"], True),
        (["--discoveryAddress", "xds.attacker.example:15012"], True),
    ],
    ids=lambda v: v if isinstance(v, bool) else " ".join(v),
)
def test_pilot_agent_flags(judge: Judge, args: list[str], refused: bool) -> None:
    pod = _injected(INIT_ARGS)
    _proxy(pod)["args"] = ["proxy", "sidecar", *args]
    assert judge(pod).codes == (("proxy-override",) if refused else ())


@pytest.mark.parametrize(
    ("env", "code"),
    [
        ({"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"}, None),
        ({"name": "ISTIO_META_INTERCEPTION_MODE", "value": "NONE"}, "interception-excluded"),
        ({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, None),
        ({"name": "CA_ADDR", "valueFrom": {"secretKeyRef": {"name": "s"}}}, "proxy-override"),
        ({"name": "ISTIO_BOOTSTRAP_OVERRIDE", "value": "/x.json"}, "proxy-override"),
        ({"name": "DISABLE_ENVOY", "value": "true"}, "interception-excluded"),
        ({"name": "PROXY_CONFIG", "value": '{"holdApplicationUntilProxyStarts": true}'}, None),
        ({"name": "PROXY_CONFIG", "value": '{"binaryPath": "/bin/sh"}'}, "proxy-override"),
        ({"name": "DD_TRACE_AGENT_URL", "value": "https://x.example"}, "proxy-override"),
    ],
    ids=lambda v: v if isinstance(v, str | None) else v["name"],
)
def test_proxy_environment(judge: Judge, env: dict[str, Any], code: str | None) -> None:
    pod = _injected(INIT_ARGS)
    _proxy(pod)["env"] = [env]
    assert judge(pod).codes == ((code,) if code else ())


@pytest.mark.parametrize(
    ("mount", "refused"),
    [
        ({"name": "istio-envoy", "mountPath": "/etc/istio/proxy"}, False),
        (
            {
                "name": "kube-api-access-x2k4q",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            },
            False,
        ),
        ({"name": "istio-envoy", "mountPath": "/var/lib/istio/envoy"}, True),
        ({"name": "custom-bootstrap-volume", "mountPath": "/etc/istio/custom-bootstrap"}, True),
        ({"name": "istio-envoy", "mountPath": "/etc/istio/proxy", "subPath": "x"}, True),
    ],
    ids=lambda v: v if isinstance(v, bool) else v["mountPath"],
)
def test_proxy_volume_mounts(judge: Judge, mount: dict[str, Any], refused: bool) -> None:
    pod = _injected(INIT_ARGS)
    _proxy(pod)["volumeMounts"] = [mount]
    assert judge(pod).codes == (("proxy-override",) if refused else ())


@pytest.mark.parametrize(
    ("handlers", "refused"),
    [
        ({"lifecycle": {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}}, False),
        ({"readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021}}}, False),
        (
            {
                "lifecycle": {
                    "postStart": {"exec": {"command": ["pilot-agent", "wait", "&&", "sh"]}}
                }
            },
            True,
        ),
        ({"readinessProbe": {"exec": {"command": ["curl", "https://x.example"]}}}, True),
    ],
    ids=lambda v: v if isinstance(v, bool) else next(iter(v)),
)
def test_commands_in_the_proxy_run_as_its_uid(
    judge: Judge, handlers: dict[str, Any], refused: bool
) -> None:
    pod = _injected(INIT_ARGS)
    _proxy(pod).update(handlers)
    assert judge(pod).codes == (("proxy-override",) if refused else ())


def test_proxy_config_addresses_are_judged_against_the_config() -> None:
    judge = ProxyConfigJudge.of(CONFIG)
    assert judge.inside("zipkin.istio-system:9411")
    assert judge.inside("$(HOST_IP):8126")
    assert judge.inside("[fd00:10::1]:9411")
    assert not judge.inside("zipkin.shop:9411")  # two labels elsewhere may resolve outside
    assert not judge.inside("169.254.169.254:80")
    assert judge.is_istiod("istiod.istio-system.svc:15012")
    assert not judge.is_istiod("istiod.istio-system.svc.attacker.example:15012")
    assert judge_proxy_config_text("tracing: [1, 2]\n", judge) == ["tracing is not a mapping"]
    assert judge_proxy_config_text("a: &x 1\n", judge)[0].startswith("cannot be read")


def test_the_proxy_config_kind_is_judged_for_everyone(judge: Judge) -> None:
    from tests.engine.infra_policy import SECURITY_ADMIN
    from tests.engine.infra_policy import judge as judge_infra

    kind = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "ProxyConfig",
        "metadata": {"name": "p", "namespace": "istio-system"},
        "spec": {"environmentVariables": {"ISTIO_BOOTSTRAP_OVERRIDE": "/b.json"}},
    }
    assert judge_infra(kind, user=SECURITY_ADMIN).codes == ("proxy-override",)
    kind["spec"] = {"environmentVariables": {"ISTIO_META_DNS_CAPTURE": "true"}, "concurrency": 2}
    assert judge_infra(kind).allowed


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ('{"containers": [{"name": "istio-proxy", "resources": {}}]}', None),
        # the overlay's arguments replace the injector's: without -i nothing is captured
        (
            '{"initContainers": [{"name": "istio-init", "args": ["istio-iptables", "-x", ""]}]}',
            "interception-excluded",
        ),
        (
            '{"initContainers": [{"name": "istio-init", "env": [{"name": "DRY_RUN", "value": "1"}]'
            "}]}",
            "interception-excluded",
        ),
        (
            '{"containers": [{"name": "istio-proxy", '
            '"args": ["proxy", "sidecar", "--meshConfig=x"]}]}',
            "proxy-override",
        ),
        ('{"containers": [{"name": "app", "args": ["anything"]}]}', None),
        ("not json", "proxy-override"),
    ],
)
def test_injection_overrides_are_judged_as_the_mesh_containers_they_become(
    judge: Judge, overrides: str, code: str | None
) -> None:
    pod = _injected(INIT_ARGS)
    pod["metadata"]["annotations"] = {"proxy.istio.io/overrides": overrides}
    assert judge(pod).codes == ((code,) if code else ())


@pytest.mark.parametrize("dropped", ["-i", "-u"])
def test_flags_the_injector_always_writes_are_required(judge: Judge, dropped: str) -> None:
    args = list(INIT_ARGS)
    at = args.index(dropped)
    del args[at : at + 2]
    decision = judge(_injected(args))
    assert decision.codes == ("interception-excluded",)
    env = {"-i": ("ISTIO_SERVICE_CIDR", "*"), "-u": ("PROXY_UID", "1337")}[dropped]
    assert judge(_injected(args, env=[{"name": env[0], "value": env[1]}])).allowed


def test_a_sidecar_needs_the_meshs_init_container(judge: Judge) -> None:
    pod = _injected(INIT_ARGS)
    del pod["spec"]["initContainers"]
    decision = judge(pod)
    assert decision.codes == ("interception-excluded",)
    assert "istio-init or istio-validation" in decision.messages[0]


def test_a_gateway_proxy_beside_the_pods_containers_is_not_a_sidecar(judge: Judge) -> None:
    pod = _injected(INIT_ARGS)
    _proxy(pod)["args"] = ["proxy", "router"]
    assert judge(pod).codes == ("interception-excluded",)
