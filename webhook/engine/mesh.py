"""Istio's sidecar: opting out of it, narrowing what it captures, overriding the proxy.

A pod whose outbound traffic escapes its sidecar escapes the egress gateway, so the
annotations that steer injection and capture are judged here, and so are the arguments of
the mesh's own containers, which carry the same settings once injected. The mesh's own
containers are recognised strictly (name, trusted image, command, first argument): an
impostor that merely borrows a name is an ordinary container.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from webhook.engine import fieldpath
from webhook.engine.context import as_dict, as_list
from webhook.engine.mesh_args import judge_iptables_container
from webhook.engine.mesh_containers import AUTO_IMAGE, MESH_CONTAINERS, MeshPod
from webhook.engine.mesh_opt_out import judge_opt_out
from webhook.engine.mesh_proxy import judge_proxy_container, judge_proxy_folder_shared
from webhook.engine.podspec import ContainerView, PodView
from webhook.engine.proxy_override import ProxyConfigJudge, judge_proxy_config_text
from webhook.model.decision import Code, Violation
from webhook.model.rules import Config

INTERCEPTION_MODE = "sidecar.istio.io/interceptionMode"
INCLUDE_IP_RANGES = "traffic.sidecar.istio.io/includeOutboundIPRanges"
EXCLUDING_ANNOTATIONS = (
    "traffic.sidecar.istio.io/excludeOutboundIPRanges",
    "traffic.sidecar.istio.io/excludeOutboundPorts",
    "traffic.sidecar.istio.io/excludeInterfaces",
)
# kubevirtInterfaces and istio.io/reroute-virtual-interfaces add capture: they are fine.
CAPTURE_MODES = frozenset({"REDIRECT", "TPROXY"})

OVERRIDE_ANNOTATIONS = (
    "sidecar.istio.io/bootstrapOverride",
    "sidecar.istio.io/proxyImage",
    "sidecar.istio.io/discoveryAddress",
    "sidecar.istio.io/userVolume",
    "sidecar.istio.io/userVolumeMount",
)
PROXY_CONFIG = "proxy.istio.io/config"


def _annotations_named(pod: PodView, names: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """(wanted name, key as written, value); keys compared case-insensitively, failing closed."""
    wanted = {name.lower(): name for name in names}
    for key, value in sorted(pod.annotations.items()):
        name = wanted.get(key.lower())
        if name is not None:
            yield name, key, value


def judge_interception_annotations(pod: PodView) -> list[Violation]:
    found = []
    judged = (*EXCLUDING_ANNOTATIONS, INCLUDE_IP_RANGES, INTERCEPTION_MODE)
    for name, key, value in _annotations_named(pod, judged):
        if name == INCLUDE_IP_RANGES:
            if value == "*":
                continue
            message = f'{key}={fieldpath.shown(value)} lets traffic bypass the sidecar; use "*"'
        elif name == INTERCEPTION_MODE:
            if value in CAPTURE_MODES:
                continue
            message = (
                f"{key}={fieldpath.shown(value)} lets traffic bypass the sidecar; use REDIRECT "
                "or TPROXY"
            )
        else:
            message = f"{key} lets traffic bypass the sidecar and the egress gateway; remove it"
        found.append(
            Violation(Code.INTERCEPTION_EXCLUDED, message, pod.annotation_path(key), value=value)
        )
    return found


def judge_proxy_overrides(pod: PodView, proxy_config: ProxyConfigJudge) -> list[Violation]:
    found = []
    for _, key, value in _annotations_named(pod, OVERRIDE_ANNOTATIONS):
        found.append(
            Violation(
                Code.PROXY_OVERRIDE,
                f"{key} replaces what the mesh runs as the pod's proxy; remove it",
                pod.annotation_path(key),
                value=value,
            )
        )
    for _, key, value in _annotations_named(pod, (PROXY_CONFIG,)):
        for problem in judge_proxy_config_text(value, proxy_config):
            found.append(
                Violation(
                    Code.PROXY_OVERRIDE,
                    f"{key} {problem}; remove it",
                    pod.annotation_path(key),
                    value=value,
                )
            )
    return found


OVERRIDES = "proxy.istio.io/overrides"


def judge_injection_overrides(
    pod: PodView, mesh: MeshPod, proxy_config: ProxyConfigJudge
) -> list[Violation]:
    """``proxy.istio.io/overrides``: the containers Istio's injector merges again into the
    ones it injects, on every injection. Each is judged like the mesh container it becomes."""
    text = pod.annotations.get(OVERRIDES)
    if text is None:
        return []
    path = pod.annotation_path(OVERRIDES)
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        message = f"{OVERRIDES} cannot be read as JSON; remove it"
        return [Violation(Code.PROXY_OVERRIDE, message, path, value=text)]
    found: list[Violation] = []
    for list_name in ("initContainers", "containers"):
        base = fieldpath.key(path, list_name)
        for position, item in enumerate(as_list(parsed.get(list_name))):
            body = as_dict(item)
            name = body.get("name")
            if not isinstance(name, str) or name not in MESH_CONTAINERS:
                continue
            overlay = {**body, "image": AUTO_IMAGE}
            container = ContainerView(
                body=overlay,
                path=fieldpath.named(base, name),
                list_name=list_name,
                position=position,
            )
            if name == "istio-proxy":
                found.extend(judge_proxy_container(container, mesh, proxy_config))
            else:
                found.extend(judge_iptables_container(container, mesh))
    return found


def judge_mesh(pod: PodView, mesh: MeshPod, config: Config) -> list[Violation]:
    """mesh-opt-out, interception-excluded and proxy-override on a pod or pod template."""
    proxy_config = ProxyConfigJudge.of(config)
    found = judge_opt_out(pod, mesh)
    found.extend(judge_interception_annotations(pod))
    for container in mesh.containers:
        if container.name == "istio-proxy":
            found.extend(judge_proxy_container(container, mesh, proxy_config))
        else:
            found.extend(judge_iptables_container(container, mesh))
    found.extend(judge_proxy_overrides(pod, proxy_config))
    found.extend(judge_injection_overrides(pod, mesh, proxy_config))
    found.extend(judge_proxy_folder_shared(pod, mesh))
    return found
