"""The mesh's istio-proxy, judged by allow-list: ``pilot-agent proxy <role>`` as injected.

Its flags, environment, volume mounts, hooks and probes may hold only what Istio's injection
templates write (sidecar, gateway, waypoint). A flag or variable that replaces the proxy's
configuration (``--templateFile``, ``--meshConfig``, ``ISTIO_BOOTSTRAP_OVERRIDE``, a
``PROXY_CONFIG`` the annotation rule would refuse), a mount over the proxy's own folders, or
a hook or probe that runs a command as the proxy's UID is ``proxy-override``; so is anything
else not on the list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from webhook.engine import fieldpath
from webhook.engine.context import as_dict, as_list
from webhook.engine.mesh_args import (
    CAPTURE_MODES,
    PROXY_ROLES,
    exec_handlers,
    is_service_account_mount,
    judge_mounts,
)
from webhook.engine.mesh_containers import MeshPod
from webhook.engine.mesh_env import Rule, judge_env, problem
from webhook.engine.mesh_flags import parse_flags
from webhook.engine.podspec import ContainerView, PodView, strings
from webhook.engine.proxy_override import PROXY_METADATA_ALLOWED, ProxyConfigJudge
from webhook.model.decision import Code, Violation

# pilot-agent's flags that the injection templates write; each takes a value but log_as_json.
AGENT_FLAGS = {
    "domain": True,
    "serviceCluster": True,
    "proxyLogLevel": True,
    "proxyComponentLogLevel": True,
    "log_output_level": True,
    "log_as_json": False,
    "stsPort": True,
    "concurrency": True,
    "outlierLogPath": True,
}
# Variables whose value, whatever it is, neither redirects the proxy nor narrows the capture.
HARMLESS_ENV = frozenset(
    {
        "JWT_POLICY",
        "PILOT_CERT_PROVIDER",
        "CA_ADDR",
        "POD_NAME",
        "POD_NAMESPACE",
        "INSTANCE_IP",
        "SERVICE_ACCOUNT",
        "HOST_IP",
        "NODE_NAME",
        "ISTIO_CPU_LIMIT",
        "GOMEMLIMIT",
        "GOMAXPROCS",
        "ISTIO_META_POD_PORTS",
        "ISTIO_META_APP_CONTAINERS",
        "ISTIO_META_CLUSTER_ID",
        "ISTIO_META_NETWORK",
        "ISTIO_META_WORKLOAD_NAME",
        "ISTIO_META_OWNER",
        "ISTIO_META_MESH_ID",
        "ISTIO_META_ROUTER_MODE",
        "ISTIO_META_REQUESTED_NETWORK_VIEW",
        "ISTIO_META_UNPRIVILEGED_POD",
        "ISTIO_META_SERVICE_ACCOUNT",
        "ISTIO_META_NODE_NAME",
        "TRUST_DOMAIN",
        "ISTIO_KUBE_APP_PROBERS",
        "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION",
        "ISTIO_PROMETHEUS_ANNOTATIONS",
        "COMPLIANCE_POLICY",
        "GODEBUG",
        "OTEL_RESOURCE_ATTRIBUTES",
    }
    | PROXY_METADATA_ALLOWED
)
# Read from the pod itself through the downward API.
DOWNWARD_ENV = frozenset(
    {
        "POD_NAME",
        "POD_NAMESPACE",
        "INSTANCE_IP",
        "SERVICE_ACCOUNT",
        "HOST_IP",
        "NODE_NAME",
        "ISTIO_CPU_LIMIT",
        "GOMEMLIMIT",
        "GOMAXPROCS",
        "ISTIO_META_SERVICE_ACCOUNT",
        "ISTIO_META_NODE_NAME",
    }
)
# The injector's volume mounts: name -> where it mounts it.
PROXY_MOUNTS = {
    "workload-socket": "/var/run/secrets/workload-spiffe-uds",
    "credential-socket": "/var/run/secrets/credential-uds",
    "workload-certs": "/var/run/secrets/workload-spiffe-credentials",
    "gke-workload-certificate": "/var/run/secrets/workload-spiffe-credentials",
    "istiod-ca-cert": "/var/run/secrets/istio",
    "istio-ca-crl": "/var/run/secrets/istio/crl",
    "istio-data": "/var/lib/istio/data",
    "istio-envoy": "/etc/istio/proxy",
    "istio-token": "/var/run/secrets/tokens",
    "istio-certs": "/etc/certs/",
    "istio-podinfo": "/etc/istio/pod",
}
_DEBUG_PORT = re.compile(r"--debug-port=[0-9]{1,5}")


def _is_agent_hook(command: list[str]) -> bool:
    """The hooks the injector writes: wait for the proxy, or drain it."""
    if command == ["pilot-agent", "wait"]:
        return True
    return (
        len(command) == 5
        and command[:2] == ["pilot-agent", "request"]
        and _DEBUG_PORT.fullmatch(command[2]) is not None
        and command[3:] == ["POST", "drain"]
    )


def _interception_mode(_mesh: MeshPod, value: str) -> str:
    return "" if value in CAPTURE_MODES else "tells the control plane the pod is not captured"


def _never(why: str) -> Rule:
    return lambda _mesh, _value: why


def _proxy_env_rule(name: str) -> Rule | None:
    if name in HARMLESS_ENV:
        return lambda _mesh, _value: ""
    if name == "ISTIO_META_INTERCEPTION_MODE":
        return _interception_mode
    if name == "ISTIO_BOOTSTRAP_OVERRIDE":
        return _never("replaces the proxy's bootstrap configuration")
    if name == "DISABLE_ENVOY":
        return _never("runs no proxy, so nothing is captured")
    return None


def judge_proxy_container(
    container: ContainerView, mesh: MeshPod, proxy_config: ProxyConfigJudge
) -> Iterator[Violation]:
    args = strings(container.body.get("args"))
    args_path = fieldpath.key(container.path, "args")
    if len(args) > 1 and args[1] not in PROXY_ROLES:
        yield problem(
            Code.PROXY_OVERRIDE,
            container,
            f"runs proxy {fieldpath.shown(args[1])!r}, which",
            "is not a sidecar, gateway or waypoint",
            f"{args_path}[1]",
            args[1],
        )
    elif len(args) > 1 and args[1] != "sidecar" and not mesh.proxy_only:
        # istio-cni redirects only a pod whose proxy is a sidecar; a gateway's or waypoint's
        # proxy beside the pod's own containers captures nothing of theirs.
        yield problem(
            Code.INTERCEPTION_EXCLUDED,
            container,
            f"runs as a {fieldpath.shown(args[1])} beside the pod's own containers, which",
            "istio-cni leaves uncaptured; run it as a sidecar",
            f"{args_path}[1]",
            args[1],
        )
    if args[1:2] == ["sidecar"] and not any(
        c.name in ("istio-init", "istio-validation") for c in mesh.containers
    ):
        yield problem(
            Code.INTERCEPTION_EXCLUDED,
            container,
            "runs without istio-init or istio-validation, which",
            "leaves nothing redirecting the pod's traffic to it",
            fieldpath.key(container.path, "name"),
            "",
        )
    for flag in parse_flags(args[2:], AGENT_FLAGS, {}):
        if flag.known:
            continue
        yield problem(
            Code.PROXY_OVERRIDE,
            container,
            f"runs with {fieldpath.shown(flag.spelled)!r}, which",
            "may replace the proxy's configuration and the injector never writes",
            f"{args_path}[{flag.spelled}]",
            flag.value,
        )
    yield from judge_env(
        container,
        mesh,
        _proxy_env_rule,
        Code.PROXY_OVERRIDE,
        downward=DOWNWARD_ENV,
        proxy_config=proxy_config,
    )
    yield from _mounts(container)
    yield from _commands(container)


def _mounts(container: ContainerView) -> Iterator[Violation]:
    return judge_mounts(
        container,
        lambda name, path: PROXY_MOUNTS.get(name) == path or is_service_account_mount(name, path),
        Code.PROXY_OVERRIDE,
        "may replace the proxy's configuration",
    )


def _commands(container: ContainerView) -> Iterator[Violation]:
    """Hooks and probes that run a command in the proxy's container run it as the proxy's UID."""
    for where, command, path in exec_handlers(container):
        if where.startswith("lifecycle.") and _is_agent_hook(command):
            continue
        yield problem(
            Code.PROXY_OVERRIDE,
            container,
            f"{where} runs {fieldpath.shown(' '.join(command))!r} as the proxy, which",
            "is never captured",
            path,
            " ".join(command),
        )


# The proxy's own folder (/etc/istio/proxy): Envoy's bootstrap, and the socket (XDS) from which
# Envoy takes its configuration, re-dialled whenever the stream to istiod ends.
PROXY_FOLDER_VOLUME = "istio-envoy"


def judge_proxy_folder_shared(pod: PodView, mesh: MeshPod) -> Iterator[Violation]:
    """Another container mounting the proxy's folder can replace the XDS socket with its own
    (the folder is a world-writable emptyDir) and serve Envoy any configuration: Istio's
    templates mount it into istio-proxy alone."""
    for container in pod.containers():
        if mesh.is_mesh(container):
            continue
        base = fieldpath.key(container.path, "volumeMounts")
        for item in as_list(container.body.get("volumeMounts")):
            mount = as_dict(item)
            if mount.get("name") != PROXY_FOLDER_VOLUME:
                continue
            path = mount.get("mountPath")
            shown = path if isinstance(path, str) else "?"
            yield Violation(
                Code.PROXY_OVERRIDE,
                f"{container.described} mounts {PROXY_FOLDER_VOLUME}, the proxy's own folder, "
                "where it can replace the socket Envoy takes its configuration from; remove the "
                "mount",
                fieldpath.named(base, PROXY_FOLDER_VOLUME),
                value=shown,
            )
