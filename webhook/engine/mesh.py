"""Istio's sidecar: opting out of it, narrowing what it captures, overriding the proxy.

A pod whose outbound traffic escapes its sidecar escapes the egress gateway, so the
annotations that steer injection and capture are judged here, and so are the arguments of
the mesh's own containers, which carry the same settings once injected. The mesh's own
containers are recognised strictly (name, trusted image, command, first argument): an
impostor that merely borrows a name is an ordinary container.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from webhook.engine import fieldpath
from webhook.engine.context import as_dict, as_list
from webhook.engine.mesh_containers import MeshPod
from webhook.engine.mesh_opt_out import judge_opt_out
from webhook.engine.podspec import ContainerView, PodView, brief, strings
from webhook.engine.proxy_config import ALLOWED_KEYS, UnreadableProxyConfig, top_level_keys
from webhook.model.decision import Code, Violation

INTERCEPTION_MODE = "sidecar.istio.io/interceptionMode"
INCLUDE_IP_RANGES = "traffic.sidecar.istio.io/includeOutboundIPRanges"
EXCLUDING_ANNOTATIONS = (
    "traffic.sidecar.istio.io/excludeOutboundIPRanges",
    "traffic.sidecar.istio.io/excludeOutboundPorts",
    "traffic.sidecar.istio.io/excludeInterfaces",
    "traffic.sidecar.istio.io/kubevirtInterfaces",
    "istio.io/reroute-virtual-interfaces",  # the newer name of kubevirtInterfaces
)
CAPTURE_MODES = frozenset({"REDIRECT", "TPROXY"})

OVERRIDE_ANNOTATIONS = (
    "sidecar.istio.io/bootstrapOverride",
    "sidecar.istio.io/proxyImage",
    "sidecar.istio.io/discoveryAddress",
    "sidecar.istio.io/userVolume",
    "sidecar.istio.io/userVolumeMount",
)
PROXY_CONFIG = "proxy.istio.io/config"

# istio-iptables flags (short and long, SPEC's names and Istio's own) and the environment
# variables its flags fall back to, by what a value must be.
_EXCLUDES = (
    "x",
    "o",
    "c",
    "outbound-ip-ranges-exclude",
    "outbound-ports-exclude",
    "istio-service-exclude-cidr",
    "istio-local-outbound-ports-exclude",
    "exclude-interfaces",
)
_INCLUDES = ("i", "outbound-ip-ranges-include", "istio-service-cidr")
_RULES = {
    **{name: "exclude" for name in _EXCLUDES},
    **{name: "include" for name in _INCLUDES},
    **{name: "uid" for name in ("u", "proxy-uid")},
    **{name: "gid" for name in ("g", "proxy-gid")},
}
_ENV = {name.upper().replace("-", "_"): rule for name, rule in _RULES.items() if len(name) > 1}
# Short flags of istio-iptables that take a value: in `-xVALUE` the rest is the value.
_SHORT_WITH_VALUE = frozenset("pzugmbtrdixqokc")


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


def _flags(args: list[str]) -> Iterator[tuple[str, str]]:
    """(flag name, value) for the flags we judge, as pflag reads them."""
    position = 0
    while position < len(args):
        token = args[position]
        position += 1
        if token.startswith("--") and len(token) > 2:
            name, eq, value = token[2:].partition("=")
            if name in _RULES:
                if not eq:
                    if position >= len(args):
                        continue
                    value, position = args[position], position + 1
                yield name, value
        elif token.startswith("-") and len(token) > 1:
            body = token[1:]
            for offset, letter in enumerate(body):
                if letter not in _SHORT_WITH_VALUE:
                    continue  # a boolean shorthand, e.g. -n in -nx
                value = body[offset + 1 :].removeprefix("=")
                if not value:
                    if position >= len(args):
                        break
                    value, position = args[position], position + 1
                if letter in _RULES:
                    yield letter, value
                break


def _narrows_capture(rule: str, value: str, mesh: MeshPod) -> bool:
    """Whether a setting leaves traffic uncaptured: an exclusion, a narrower include, or a
    UID/GID other than the proxy's own (``-g`` defaults to ``-u``)."""
    if rule == "exclude":
        return value != ""
    if rule == "include":
        return value != "*"
    allowed = {mesh.excluded_uid} if rule == "uid" else {mesh.excluded_uid, mesh.proxy_gid}
    return value not in {str(i) for i in allowed - {0}}


def judge_mesh_container_settings(container: ContainerView, mesh: MeshPod) -> list[Violation]:
    """A mesh container's iptables settings, in its arguments or in its environment."""
    found = []
    args = strings(container.body.get("args"))
    args_path = fieldpath.key(container.path, "args")
    for name, value in _flags(args[1:]):
        if _narrows_capture(_RULES[name], value, mesh):
            dashes = "-" if len(name) == 1 else "--"
            found.append(
                Violation(
                    Code.INTERCEPTION_EXCLUDED,
                    f"{container.described} runs with {dashes}{name} {fieldpath.shown(value)!r}, "
                    "letting traffic bypass the sidecar; remove it",
                    f"{args_path}[{dashes}{name}]",
                    value=value,
                )
            )
    env_path = fieldpath.key(container.path, "env")
    for item in as_list(container.body.get("env")):
        variable = as_dict(item)
        variable_name = variable.get("name")
        if not isinstance(variable_name, str):
            continue
        rule = _ENV.get(variable_name)
        if rule is None:
            continue
        env_value = variable.get("value")
        readable = variable.get("valueFrom") is None and isinstance(env_value, str | None)
        if readable and not _narrows_capture(rule, env_value or "", mesh):
            continue
        found.append(
            Violation(
                Code.INTERCEPTION_EXCLUDED,
                f"{container.described} sets {variable_name}, which decides what the sidecar "
                "captures; remove it",
                fieldpath.key(env_path, variable_name),
                value=str(env_value) if readable else "valueFrom",
            )
        )
    if container.body.get("envFrom"):
        found.append(
            Violation(
                Code.INTERCEPTION_EXCLUDED,
                f"{container.described} takes its environment from envFrom, which could change "
                "what the sidecar captures; set env explicitly",
                fieldpath.key(container.path, "envFrom"),
            )
        )
    return found


def judge_proxy_overrides(pod: PodView) -> list[Violation]:
    found = []
    for _, key, _value in _annotations_named(pod, OVERRIDE_ANNOTATIONS):
        found.append(
            Violation(
                Code.PROXY_OVERRIDE,
                f"{key} replaces what the mesh runs as the pod's proxy; remove it",
                pod.annotation_path(key),
                value=_value,
            )
        )
    for _, key, value in _annotations_named(pod, (PROXY_CONFIG,)):
        problem = _proxy_config_problem(value)
        if problem:
            found.append(
                Violation(
                    Code.PROXY_OVERRIDE, f"{key} {problem}", pod.annotation_path(key), value=value
                )
            )
    return found


def _proxy_config_problem(text: str) -> str:
    try:
        keys = top_level_keys(text)
    except UnreadableProxyConfig as error:
        return f"cannot be read with certainty ({error}); write it as a JSON object"
    forbidden = sorted({k for k in keys if k not in ALLOWED_KEYS})
    if forbidden:
        return (
            f"may not set {brief(', '.join(forbidden))}; allowed: {', '.join(sorted(ALLOWED_KEYS))}"
        )
    repeated = sorted(k for k, n in Counter(keys).items() if n > 1)
    if repeated:
        return f"sets {brief(', '.join(repeated))} twice; set each key once"
    return ""


def judge_mesh(pod: PodView, mesh: MeshPod) -> list[Violation]:
    """mesh-opt-out, interception-excluded and proxy-override on a pod or pod template."""
    found = judge_opt_out(pod, mesh)
    found.extend(judge_interception_annotations(pod))
    for container in mesh.containers:
        found.extend(judge_mesh_container_settings(container, mesh))
    found.extend(judge_proxy_overrides(pod))
    return found
