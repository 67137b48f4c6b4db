"""The mesh's own containers, their arguments, and the Istio annotations on pods."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.conftest import Judge, PodFactory
from tests.example_policy import CONFIG
from webhook.engine.mesh_args import _IPTABLES_TAKES_VALUE, IPTABLES_SHORTHANDS
from webhook.engine.mesh_containers import image_repository, is_mesh_container
from webhook.engine.mesh_flags import parse_flags
from webhook.engine.podspec import ContainerView

PROXYV2 = "docker.io/istio/proxyv2:1.24.2"
INIT_ARGS = [
    "istio-iptables",
    "-p",
    "15001",
    "-z",
    "15006",
    "-u",
    "1337",
    "-m",
    "REDIRECT",
    "-i",
    "*",
    "-x",
    "",
    "-b",
    "*",
    "-d",
    "15090,15021,15020",
]


@pytest.mark.parametrize(
    ("reference", "repository"),
    [
        ("istio/proxyv2", "docker.io/istio/proxyv2"),
        ("istio/proxyv2:1.24.2", "docker.io/istio/proxyv2"),
        ("docker.io/istio/proxyv2:1.24.2@sha256:abc", "docker.io/istio/proxyv2"),
        ("index.docker.io/istio/proxyv2", "docker.io/istio/proxyv2"),
        ("Docker.IO/istio/proxyv2", "docker.io/istio/proxyv2"),
        ("gcr.io/istio-release/proxyv2@sha256:abc", "gcr.io/istio-release/proxyv2"),
        ("localhost:5000/istio/proxyv2:1", "localhost:5000/istio/proxyv2"),
        ("busybox", "docker.io/library/busybox"),
        ("docker.io.evil.example/istio/proxyv2", "docker.io.evil.example/istio/proxyv2"),
        ("istio/proxyv2/extra:1", "docker.io/istio/proxyv2/extra"),
    ],
)
def test_image_references_are_read_as_a_container_runtime_reads_them(
    reference: str, repository: str
) -> None:
    assert image_repository(reference) == repository


def _container(list_name: str = "initContainers", **body: Any) -> ContainerView:
    return ContainerView(body=body, path=f"spec.{list_name}[0]", list_name=list_name)


@pytest.mark.parametrize(
    ("body", "list_name", "template", "mesh"),
    [
        (
            {"name": "istio-init", "image": PROXYV2, "args": INIT_ARGS},
            "initContainers",
            False,
            True,
        ),
        (
            {
                "name": "istio-validation",
                "image": "gcr.io/istio-release/proxyv2:1.24.2",
                "args": INIT_ARGS,
            },
            "initContainers",
            False,
            True,
        ),
        (
            {
                "name": "istio-proxy",
                "image": "istio/proxyv2:1.24.2",
                "command": ["pilot-agent"],
                "args": ["proxy", "sidecar"],
            },
            "containers",
            False,
            True,
        ),
        (  # a native sidecar
            {
                "name": "istio-proxy",
                "image": PROXYV2,
                "args": ["proxy", "sidecar"],
                "restartPolicy": "Always",
            },
            "initContainers",
            False,
            True,
        ),
        # impostors: wrong name, image, command, first argument, list, or shape
        (
            {"name": "istio-init2", "image": PROXYV2, "args": INIT_ARGS},
            "initContainers",
            False,
            False,
        ),
        (
            {"name": "istio-init", "image": "docker.io/attacker/proxyv2", "args": INIT_ARGS},
            "initContainers",
            False,
            False,
        ),
        (
            {"name": "istio-init", "image": f" {PROXYV2}", "args": INIT_ARGS},
            "initContainers",
            False,
            False,
        ),
        (
            {"name": "istio-init", "image": PROXYV2, "command": ["sh", "-c"], "args": INIT_ARGS},
            "initContainers",
            False,
            False,
        ),
        (
            {
                "name": "istio-init",
                "image": PROXYV2,
                "command": ["pilot-agent", "x"],
                "args": INIT_ARGS,
            },
            "initContainers",
            False,
            False,
        ),
        (
            {"name": "istio-init", "image": PROXYV2, "args": ["proxy"]},
            "initContainers",
            False,
            False,
        ),
        (
            {"name": "istio-proxy", "image": PROXYV2, "args": ["istio-iptables"]},
            "containers",
            False,
            False,
        ),
        ({"name": "istio-init", "image": PROXYV2}, "initContainers", False, False),
        (
            {"name": "istio-init", "image": PROXYV2, "args": "istio-iptables"},
            "initContainers",
            False,
            False,
        ),
        (
            {"name": "istio-init", "image": PROXYV2, "args": INIT_ARGS},
            "ephemeralContainers",
            False,
            False,
        ),
        # Istio's gateway charts: `image: auto` is a placeholder in templates only
        ({"name": "istio-proxy", "image": "auto"}, "containers", True, True),
        ({"name": "istio-proxy", "image": "auto"}, "containers", False, False),
        # ... and Istio's "customizing injection" merges a template's mesh-named container
        ({"name": "istio-init", "image": "auto"}, "initContainers", True, True),
        ({"name": "istio-init", "image": "auto"}, "containers", True, False),
        # not in its list: istio-init among containers, istio-proxy an init container that
        # does not keep running
        ({"name": "istio-init", "image": PROXYV2, "args": INIT_ARGS}, "containers", False, False),
        (
            {"name": "istio-proxy", "image": PROXYV2, "args": ["proxy", "sidecar"]},
            "initContainers",
            False,
            False,
        ),
        ({"name": "istio-proxy", "image": "auto", "command": ["sh"]}, "containers", True, False),
    ],
)
def test_only_containers_matching_name_image_command_and_first_argument_are_the_meshs(
    body: dict[str, Any], list_name: str, template: bool, mesh: bool
) -> None:
    assert is_mesh_container(_container(list_name, **body), CONFIG, template=template) is mesh


@pytest.mark.parametrize(
    ("args", "flags"),
    [
        (["-x", "0.0.0.0/0"], [("istio-service-exclude-cidr", "0.0.0.0/0")]),
        (["-x=0.0.0.0/0"], [("istio-service-exclude-cidr", "0.0.0.0/0")]),
        (["-x0.0.0.0/0"], [("istio-service-exclude-cidr", "0.0.0.0/0")]),
        (["-x="], [("istio-service-exclude-cidr", "")]),
        (["-x", ""], [("istio-service-exclude-cidr", "")]),
        # -n is a boolean shorthand, combined with the next one
        (
            ["-nx", "1.2.3.4/32"],
            [("dry-run", "true"), ("istio-service-exclude-cidr", "1.2.3.4/32")],
        ),
        (
            ["--istio-service-exclude-cidr", "1.2.3.4/32"],
            [("istio-service-exclude-cidr", "1.2.3.4/32")],
        ),
        (["--dry-run"], [("dry-run", "true")]),
        (["--dry-run=false"], [("dry-run", "false")]),
        (["-p", "-x", "-u", "0"], [("envoy-port", "-x"), ("proxy-uid", "0")]),  # -x is -p's value
        (["-istio-service-cidr"], [("istio-service-cidr", "stio-service-cidr")]),  # as pflag
        (["-x"], [("", "")]),  # a value missing: unknown, refused
        (["--outbound-ports-exclude=443"], [("", "443")]),  # not istio-iptables' flag
        (["--", "-x"], [("", "-x")]),  # positional: refused
        (["-y"], [("", "")]),
    ],
)
def test_flags_are_read_in_every_spelling_pflag_accepts(
    args: list[str], flags: list[tuple[str, str]]
) -> None:
    parsed = parse_flags(args, _IPTABLES_TAKES_VALUE, IPTABLES_SHORTHANDS)
    assert [(f.name if f.known else "", f.value) for f in parsed] == flags


def _injected(init_args: list[str], **init: Any) -> dict[str, Any]:
    from tests.engine.conftest import make_pod

    return make_pod(
        initContainers=[
            {
                "name": "istio-init",
                "image": PROXYV2,
                "args": init_args,
                "securityContext": {
                    "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
                    "runAsUser": 0,
                },
                **init,
            }
        ],
        containers=[
            {"name": "app", "image": "registry.example.com/shop/app:1"},
            {
                "name": "istio-proxy",
                "image": PROXYV2,
                "args": ["proxy", "sidecar"],
                "securityContext": {"runAsUser": 1337, "runAsGroup": 1337},
            },
        ],
    )


def test_injected_pod_is_allowed(judge: Judge) -> None:
    decision = judge(_injected(INIT_ARGS))
    assert decision.allowed, decision.messages
    assert decision.codes == ()


@pytest.mark.parametrize(
    "changed",
    [
        ["-x", "0.0.0.0/0"],
        ["-o", "443"],
        ["-i", "10.0.0.0/8"],
        ["-i", ""],
        ["-i", " *"],
        ["-u", "0"],
        ["-g=1000"],
        ["--exclude-interfaces", "eth0"],
        ["--outbound-ip-ranges-exclude=52.0.0.0/8"],
    ],
    ids=" ".join,
)
def test_mesh_container_arguments_that_narrow_capture_are_refused(
    judge: Judge, changed: list[str]
) -> None:
    decision = judge(_injected([*INIT_ARGS, *changed]))
    assert decision.codes == ("interception-excluded",)
    assert decision.violations[0].path.startswith("spec.initContainers[name=istio-init].args[")


@pytest.mark.parametrize(
    "env",
    [
        [{"name": "ISTIO_SERVICE_EXCLUDE_CIDR", "value": "0.0.0.0/0"}],
        [{"name": "OUTBOUND_PORTS_EXCLUDE", "value": "443"}],
        [{"name": "PROXY_UID", "value": "1000"}],
        [
            {
                "name": "ISTIO_SERVICE_CIDR",
                "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}},
            }
        ],
    ],
    ids=lambda env: env[0]["name"],
)
def test_mesh_container_environment_that_narrows_capture_is_refused(
    judge: Judge, env: list[dict[str, Any]]
) -> None:
    assert judge(_injected(INIT_ARGS, env=env)).codes == ("interception-excluded",)


def test_mesh_container_env_from_cannot_be_verified(judge: Judge) -> None:
    decision = judge(_injected(INIT_ARGS, envFrom=[{"configMapRef": {"name": "iptables"}}]))
    assert decision.codes == ("interception-excluded",)


def test_harmless_mesh_container_environment_is_allowed(judge: Judge) -> None:
    env = [
        {"name": "ISTIO_SERVICE_CIDR", "value": "*"},
        {"name": "PROXY_UID", "value": "1337"},
        {"name": "ISTIO_META_DNS_CAPTURE", "value": "true"},
    ]
    assert judge(_injected(INIT_ARGS, env=env)).allowed


def test_impostor_with_the_meshs_name_is_an_ordinary_container(judge: Judge) -> None:
    pod = _injected(INIT_ARGS)
    pod["spec"]["initContainers"][0]["image"] = "registry.example.com/tools/iptables:1"
    pod["spec"]["initContainers"][0]["args"] = ["-x", "0.0.0.0/0"]
    decision = judge(pod)
    # its capabilities count; its arguments are an ordinary program's; istio-cni skips the pod;
    # and nothing of the mesh's redirects to the proxy
    assert decision.codes == ("net-capability", "mesh-opt-out", "interception-excluded")


@pytest.mark.parametrize("value", ["false", "False", "no", "off", "n", "disabled", " true"])
def test_any_inject_value_istio_reads_as_no_is_an_opt_out(
    judge: Judge, pod: PodFactory, value: str
) -> None:
    assert judge(pod(annotations={"sidecar.istio.io/inject": value})).codes == ("mesh-opt-out",)


@pytest.mark.parametrize("value", ["true", "True", "yes", "y", "on", ""])
def test_inject_values_istio_reads_as_yes_are_allowed(
    judge: Judge, pod: PodFactory, value: str
) -> None:
    assert judge(pod(labels={"sidecar.istio.io/inject": value})).allowed


@pytest.mark.parametrize(
    ("annotations", "allowed"),
    [
        ({"traffic.sidecar.istio.io/includeOutboundIPRanges": "*"}, True),
        ({"traffic.sidecar.istio.io/includeOutboundIPRanges": "*,10.0.0.0/8"}, False),
        ({"sidecar.istio.io/interceptionMode": "REDIRECT"}, True),
        ({"sidecar.istio.io/interceptionMode": "redirect"}, False),
        ({"traffic.sidecar.istio.io/excludeOutboundIPRanges": ""}, False),
        ({"traffic.sidecar.istio.io/ExcludeOutboundIPRanges": "0.0.0.0/0"}, False),
        ({"istio.io/reroute-virtual-interfaces": "net1"}, True),  # adds capture
        ({"traffic.sidecar.istio.io/kubevirtInterfaces": "net1"}, True),
        ({"traffic.sidecar.istio.io/excludeInboundPorts": "8080"}, True),
    ],
    ids=repr,
)
def test_interception_annotations(
    judge: Judge, pod: PodFactory, annotations: dict[str, str], allowed: bool
) -> None:
    decision = judge(pod(annotations=annotations))
    assert decision.allowed is allowed
    assert decision.codes == (() if allowed else ("interception-excluded",))


@pytest.mark.parametrize(
    ("config", "allowed"),
    [
        ("holdApplicationUntilProxyStarts: true\n", True),
        ('{"terminationDrainDuration": "30s", "concurrency": 0}', True),
        ("discoveryAddress: x:15012\n", False),
        ('{"concurrency": 2, "concurrency": 4}', False),
        ('{"Concurrency": 2}', False),
        ("{concurrency: 2}", False),
        ("proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: 'true'\n", True),
        ("proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: 'true'\n  ISTIO_META_DNS_CAPTURE: x\n", False),
        ("proxyMetadata:\n  ISTIO_BOOTSTRAP_OVERRIDE: /tmp/b.json\n", False),
        ('{"proxyMetadata": {"ISTIO_META_DNS_AUTO_ALLOCATE": "true"}}', True),
        ('{"tracing": {"sampling": 10}}', True),
        ('{"tracing": {"zipkin": {"address": "zipkin.istio-system:9411"}}}', True),
        ('{"tracing": {"zipkin": {"address": "otel.observability.svc:9411"}}}', True),
        ('{"tracing": {"zipkin": {"address": "10.0.4.2:9411"}}}', True),
        ('{"tracing": {"zipkin": {"address": "collector.attacker.example:9411"}}}', False),
        ('{"tracing": {"zipkin": {"address": "8.8.8.8:9411"}}}', False),
        ('{"tracing": {"stackdriver": {}}}', False),
        (
            '{"image": {"imageType": "distroless"}, "gatewayTopology": {"numTrustedProxies": 1}}',
            True,
        ),
        ('{"image": {"imageType": "distroless", "repo": "x"}}', False),
        ('{"discoveryAddress": "istiod.istio-system.svc:15012"}', True),
        ('{"discoveryAddress": "istiod-canary.istio-system.svc.cluster.local:15012"}', True),
        ('{"discoveryAddress": "istiod.shop.svc:15012"}', False),
        ('{"binaryPath": "/bin/sh"}', False),
        ('{"proxyBootstrapTemplatePath": "/tmp/t.json"}', False),
        ("", True),
    ],
    ids=repr,
)
def test_proxy_config_may_set_only_the_allowed_fields(
    judge: Judge, pod: PodFactory, config: str, allowed: bool
) -> None:
    decision = judge(pod(annotations={"proxy.istio.io/config": config}))
    assert decision.allowed is allowed, decision.messages
    assert all(len(m) < 200 for m in decision.messages)
