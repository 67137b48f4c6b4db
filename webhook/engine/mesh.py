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
from functools import lru_cache

from webhook.engine import fieldpath
from webhook.engine.context import as_dict, as_list
from webhook.engine.podspec import ContainerView, PodView, brief, strings
from webhook.engine.proxy_config import ALLOWED_KEYS, UnreadableProxyConfig, top_level_keys
from webhook.model.decision import Code, Violation
from webhook.model.rules import Config

DEFAULT_REGISTRY = "docker.io"
# The mesh's containers and the subcommand each must run (SPEC §3).
MESH_CONTAINERS = {
    "istio-proxy": "proxy",
    "istio-init": "istio-iptables",
    "istio-validation": "istio-iptables",
}
MESH_COMMANDS = frozenset({"pilot-agent", "istio-iptables"})
PROXY_UID = "1337"
AUTO_IMAGE = "auto"  # Istio's gateway injection fills in the proxy image

INJECT = "sidecar.istio.io/inject"
DATAPLANE_MODE = "istio.io/dataplane-mode"
# Istio injects only for these values of sidecar.istio.io/inject (or none); any other
# value, "false" and "no" and typos alike, disables injection.
INJECT_ON = frozenset({"", "y", "yes", "true", "on"})

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
_PROXY_IDS = ("u", "g", "proxy-uid", "proxy-gid")
_RULES = {
    **{name: "exclude" for name in _EXCLUDES},
    **{name: "include" for name in _INCLUDES},
    **{name: "proxy-id" for name in _PROXY_IDS},
}
_ENV = {name.upper().replace("-", "_"): rule for name, rule in _RULES.items() if len(name) > 1}
# Short flags of istio-iptables that take a value: in `-xVALUE` the rest is the value.
_SHORT_WITH_VALUE = frozenset("pzugmbtrdixqokc")


def image_repository(reference: str) -> str:
    """``istio/proxyv2:1.24.0@sha256:..`` -> ``docker.io/istio/proxyv2``, as a runtime reads it."""
    name = reference.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name = name[:colon]
    first, sep, rest = name.partition("/")
    if not sep:
        return f"{DEFAULT_REGISTRY}/library/{name}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"{DEFAULT_REGISTRY}/{name}"
    registry = first.lower()
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DEFAULT_REGISTRY
    return f"{registry}/{rest}"


@lru_cache(maxsize=32)
def _trusted_repositories(images: frozenset[str]) -> frozenset[str]:
    return frozenset(image_repository(image) for image in images)


def is_mesh_container(container: ContainerView, config: Config, *, template: bool) -> bool:
    """The mesh's own container: name, trusted image, command and first argument all fit.

    Ephemeral containers never are: Istio does not inject them, `kubectl debug` does. In a
    pod template, ``istio-proxy`` with ``image: auto`` (Istio's gateway charts) is the
    mesh's placeholder: injection replaces it, and the Pod it becomes is judged strictly.
    """
    expected_first_arg = MESH_CONTAINERS.get(container.name)
    if expected_first_arg is None or container.list_name == "ephemeralContainers":
        return False
    body = container.body
    image = body.get("image")
    command, args = body.get("command"), body.get("args")
    if command not in (None, []) and not (
        isinstance(command, list)
        and len(command) == 1
        and isinstance(command[0], str)
        and command[0] in MESH_COMMANDS
    ):
        return False
    if template and container.name == "istio-proxy" and image == AUTO_IMAGE:
        return args in (None, []) or (isinstance(args, list) and args[0] == "proxy")
    if not isinstance(image, str) or image != image.strip() or not image:
        return False
    if image_repository(image) not in _trusted_repositories(config.proxy_images):
        return False
    return (
        isinstance(args, list)
        and bool(args)
        and all(isinstance(arg, str) for arg in args)
        and args[0] == expected_first_arg
    )


def judge_opt_out(pod: PodView) -> list[Violation]:
    found = []
    for where, values in (("label", pod.labels), ("annotation", pod.annotations)):
        path_of = pod.label_path if where == "label" else pod.annotation_path
        inject = values.get(INJECT)
        if inject is not None and inject.lower() not in INJECT_ON:
            found.append(
                Violation(
                    Code.MESH_OPT_OUT,
                    f"{where} {INJECT}={fieldpath.shown(inject)} keeps the pod out of the "
                    "mesh and its egress gateway; remove it",
                    path_of(INJECT),
                )
            )
        mode = values.get(DATAPLANE_MODE)
        if mode is not None and mode.strip().lower() == "none":
            found.append(
                Violation(
                    Code.MESH_OPT_OUT,
                    f"{where} {DATAPLANE_MODE}={fieldpath.shown(mode)} keeps the pod out of "
                    "the mesh and its egress gateway; remove it",
                    path_of(DATAPLANE_MODE),
                )
            )
    return found


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
        found.append(Violation(Code.INTERCEPTION_EXCLUDED, message, pod.annotation_path(key)))
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


def _narrows_capture(rule: str, value: str) -> bool:
    if rule == "exclude":
        return value != ""
    if rule == "include":
        return value != "*"
    return value != PROXY_UID


def judge_mesh_container_settings(container: ContainerView) -> list[Violation]:
    """A mesh container's iptables settings, in its arguments or in its environment."""
    found = []
    args = strings(container.body.get("args"))
    args_path = fieldpath.key(container.path, "args")
    for name, value in _flags(args[1:]):
        if _narrows_capture(_RULES[name], value):
            dashes = "-" if len(name) == 1 else "--"
            found.append(
                Violation(
                    Code.INTERCEPTION_EXCLUDED,
                    f"{container.described} runs with {dashes}{name} {fieldpath.shown(value)!r}, "
                    "letting traffic bypass the sidecar; remove it",
                    f"{args_path}[{dashes}{name}]",
                )
            )
    env_path = fieldpath.key(container.path, "env")
    for position, item in enumerate(as_list(container.body.get("env"))):
        variable = as_dict(item)
        variable_name = variable.get("name")
        rule = _ENV.get(variable_name) if isinstance(variable_name, str) else None
        if rule is None:
            continue
        env_value = variable.get("value")
        readable = variable.get("valueFrom") is None and isinstance(env_value, str | None)
        if readable and not _narrows_capture(rule, env_value or ""):
            continue
        found.append(
            Violation(
                Code.INTERCEPTION_EXCLUDED,
                f"{container.described} sets {variable_name}, which decides what the sidecar "
                "captures; remove it",
                fieldpath.index(env_path, position),
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
            )
        )
    for _, key, value in _annotations_named(pod, (PROXY_CONFIG,)):
        problem = _proxy_config_problem(value)
        if problem:
            found.append(
                Violation(Code.PROXY_OVERRIDE, f"{key} {problem}", pod.annotation_path(key))
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


def judge_mesh(pod: PodView, mesh_containers: Iterable[ContainerView]) -> list[Violation]:
    """mesh-opt-out, interception-excluded and proxy-override on a pod or pod template."""
    found = judge_opt_out(pod)
    found.extend(judge_interception_annotations(pod))
    for container in mesh_containers:
        found.extend(judge_mesh_container_settings(container))
    found.extend(judge_proxy_overrides(pod))
    return found
