"""The mesh's own containers, judged by allow-list: only what Istio's injector writes.

istio-init and istio-validation run ``istio-iptables`` with the flags of Istio's injection
template; istio-proxy runs ``pilot-agent proxy <role>`` with the injector's flags,
environment and volume mounts. Each setting is judged by its effect: what narrows or
switches off the capture is ``interception-excluded``; what replaces the proxy's
configuration, or runs something else as the proxy's UID, is ``proxy-override``; anything
else not on the list is refused as the one or the other, since its effect is unknown.

The lists follow Istio's ``tools/istio-iptables`` flag and environment bindings and its
``injection-template.yaml``, ``gateway-injection-template.yaml`` and ``waypoint.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from webhook.engine import fieldpath
from webhook.engine.context import as_dict, as_list
from webhook.engine.mesh_containers import AUTO_IMAGE, MeshPod
from webhook.engine.mesh_env import Rule, env_values, judge_env, problem
from webhook.engine.mesh_flags import parse_flags
from webhook.engine.podspec import ContainerView, strings
from webhook.engine.proxy_override import PROXY_METADATA_ALLOWED
from webhook.model.decision import Code, Violation

_PORT = re.compile(r"[0-9]{1,5}")
_PORTS = re.compile(r"(\*|[0-9]{1,5}(,[0-9]{1,5})*)?")
CAPTURE_MODES = frozenset({"REDIRECT", "TPROXY"})
PROXY_ROLES = frozenset({"sidecar", "router", "waypoint"})


def _fine(_mesh: MeshPod, _value: str) -> str:
    return ""


def _equals(expected: str, why: str) -> Rule:
    return lambda _mesh, value: "" if value == expected else why


def _ports(_mesh: MeshPod, value: str) -> str:
    return "" if _PORTS.fullmatch(value.strip()) else "is not a list of ports"


def _port(_mesh: MeshPod, value: str) -> str:
    return "" if _PORT.fullmatch(value.strip()) else "is not a port"


def _false(why: str) -> Rule:
    return lambda _mesh, value: "" if value.strip().lower() in ("false", "0") else why


def _uid(mesh: MeshPod, value: str) -> str:
    return (
        "" if value == str(mesh.excluded_uid) else "leaves another UID than the proxy's uncaptured"
    )


def _gid(mesh: MeshPod, value: str) -> str:
    allowed = {str(i) for i in {mesh.proxy_gid, mesh.excluded_uid} - {0}}
    return "" if value in allowed else "leaves another GID than the proxy's uncaptured"


def _mode(_mesh: MeshPod, value: str) -> str:
    return "" if value in CAPTURE_MODES else "is not REDIRECT or TPROXY"


@dataclass(frozen=True, slots=True)
class IptablesFlag:
    takes_value: bool
    rule: Rule
    env: str = ""  # the environment variable istio-iptables also reads it from


# istio-iptables' flags: what the injector writes, and what only adds capture.
IPTABLES_FLAGS: dict[str, IptablesFlag] = {
    "envoy-port": IptablesFlag(True, _equals("15001", "sends captured traffic elsewhere")),
    "inbound-capture-port": IptablesFlag(True, _port, "INBOUND_CAPTURE_PORT"),
    "inbound-tunnel-port": IptablesFlag(True, _port, "INBOUND_TUNNEL_PORT"),
    "proxy-uid": IptablesFlag(True, _uid, "PROXY_UID"),
    "proxy-gid": IptablesFlag(True, _gid, "PROXY_GID"),
    "istio-inbound-interception-mode": IptablesFlag(True, _mode, "ISTIO_INBOUND_INTERCEPTION_MODE"),
    "istio-inbound-ports": IptablesFlag(True, _ports, "ISTIO_INBOUND_PORTS"),
    "istio-local-exclude-ports": IptablesFlag(True, _ports, "ISTIO_LOCAL_EXCLUDE_PORTS"),
    "istio-exclude-interfaces": IptablesFlag(
        True, _equals("", "leaves interfaces uncaptured"), "ISTIO_EXCLUDE_INTERFACES"
    ),
    "istio-service-cidr": IptablesFlag(
        True, _equals("*", "captures only some addresses"), "ISTIO_SERVICE_CIDR"
    ),
    "istio-service-exclude-cidr": IptablesFlag(
        True, _equals("", "leaves addresses uncaptured"), "ISTIO_SERVICE_EXCLUDE_CIDR"
    ),
    "istio-outbound-ports": IptablesFlag(True, _ports, "ISTIO_OUTBOUND_PORTS"),
    "istio-local-outbound-ports-exclude": IptablesFlag(
        True, _equals("", "leaves ports uncaptured"), "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE"
    ),
    "kube-virt-interfaces": IptablesFlag(True, _fine, "KUBE_VIRT_INTERFACES"),  # adds capture
    "dry-run": IptablesFlag(False, _false("applies no rules"), "DRY_RUN"),
    "skip-rule-apply": IptablesFlag(False, _fine, "SKIP_RULE_APPLY"),  # judged with the list
    "run-validation": IptablesFlag(False, _fine, "RUN_VALIDATION"),
    "force-apply": IptablesFlag(False, _fine, "FORCE_APPLY"),
    "native-nftables": IptablesFlag(False, _fine, "NATIVE_NFTABLES"),
    "redirect-dns": IptablesFlag(False, _fine, "REDIRECT_DNS"),  # adds capture
    "capture-all-dns": IptablesFlag(False, _fine, "CAPTURE_ALL_DNS"),
    "drop-invalid": IptablesFlag(False, _fine, "DROP_INVALID"),
    "dual-stack": IptablesFlag(False, _fine, "DUAL_STACK"),
    "iptables-trace-logging": IptablesFlag(False, _fine, "IPTABLES_TRACE_LOGGING"),
    "iptables-probe-port": IptablesFlag(True, _port, "IPTABLES_PROBE_PORT"),
    "probe-timeout": IptablesFlag(True, _fine, "PROBE_TIMEOUT"),
    "log_output_level": IptablesFlag(True, _fine),
    "log_as_json": IptablesFlag(False, _fine),
}
IPTABLES_SHORTHANDS = {
    "p": "envoy-port",
    "z": "inbound-capture-port",
    "e": "inbound-tunnel-port",
    "u": "proxy-uid",
    "g": "proxy-gid",
    "m": "istio-inbound-interception-mode",
    "b": "istio-inbound-ports",
    "d": "istio-local-exclude-ports",
    "c": "istio-exclude-interfaces",
    "i": "istio-service-cidr",
    "x": "istio-service-exclude-cidr",
    "q": "istio-outbound-ports",
    "o": "istio-local-outbound-ports-exclude",
    "k": "kube-virt-interfaces",
    "n": "dry-run",
}
_IPTABLES_TAKES_VALUE = {name: flag.takes_value for name, flag in IPTABLES_FLAGS.items()}
# Variables istio-iptables reads only from the environment, and the value that captures all.
IPTABLES_ENV_ONLY: dict[str, Rule] = {
    "ISTIO_OUTBOUND_OWNER_GROUPS": _equals("*", "captures only some groups"),
    "ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE": _equals("", "leaves groups uncaptured"),
    "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR": _equals(
        "127.0.0.1/32", "changes which loopback traffic is the app's"
    ),
    "CLEANUP_ONLY": _false("removes the rules"),
    "INVALID_DROP": _fine,
    "ISTIO_DUAL_STACK": _fine,
    "ISTIO_AGENT_DUAL_STACK": _fine,
}


def judge_iptables_container(container: ContainerView, mesh: MeshPod) -> Iterator[Violation]:
    """istio-init or istio-validation: ``istio-iptables`` with the injector's flags only."""
    args = strings(container.body.get("args"))[1:]
    args_path = fieldpath.key(container.path, "args")
    skip_rule_apply = run_validation = False
    seen: set[str] = set()
    for flag in parse_flags(args, _IPTABLES_TAKES_VALUE, IPTABLES_SHORTHANDS):
        seen.add(flag.name)
        path = f"{args_path}[{flag.spelled}]"
        if not flag.known:
            yield problem(
                Code.INTERCEPTION_EXCLUDED,
                container,
                f"runs with {fieldpath.shown(flag.spelled)!r}, which",
                "the injector never writes",
                path,
                flag.value,
            )
            continue
        why = IPTABLES_FLAGS[flag.name].rule(mesh, flag.value)
        if flag.name == "skip-rule-apply":
            skip_rule_apply = flag.value.strip().lower() not in ("false", "0")
        if flag.name == "run-validation":
            run_validation = flag.value.strip().lower() not in ("false", "0")
        if why:
            yield problem(
                Code.INTERCEPTION_EXCLUDED,
                container,
                f"runs with {flag.spelled} {fieldpath.shown(flag.value)!r}, which",
                why,
                path,
                flag.value,
            )
    env = dict(env_values(container))
    # A container merged into the injected one without arguments keeps the injector's.
    merged_as_is = container.body.get("image") == AUTO_IMAGE and not args
    for name, why in REQUIRED_FLAGS.items():
        if merged_as_is or name in seen or IPTABLES_FLAGS[name].env in env:
            continue
        yield problem(
            Code.INTERCEPTION_EXCLUDED,
            container,
            f"runs without --{name}, which",
            why,
            f"{args_path}[--{name}]",
            "",
        )
    skip_rule_apply |= env.get("SKIP_RULE_APPLY", "false").lower() not in ("false", "0", "")
    run_validation |= env.get("RUN_VALIDATION", "false").lower() not in ("false", "0", "")
    if skip_rule_apply and not (container.name == "istio-validation" and run_validation):
        yield problem(
            Code.INTERCEPTION_EXCLUDED,
            container,
            "skips applying the rules, which",
            "leaves the pod uncaptured unless istio-validation checks istio-cni's",
            f"{args_path}[--skip-rule-apply]",
            "true",
        )
    yield from judge_env(container, mesh, _iptables_env_rule, Code.INTERCEPTION_EXCLUDED)
    yield from _iptables_mounts(container)
    yield from _iptables_commands(container)


SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def is_service_account_mount(name: str, path: str) -> bool:
    """The token volume the API server mounts into every container (``kube-api-access-*``)."""
    return name.startswith("kube-api-access-") and path == SERVICE_ACCOUNT_MOUNT


def judge_mounts(
    container: ContainerView, allowed: Callable[[str, str], bool], code: Code, why: str
) -> Iterator[Violation]:
    """``code`` for each volume mount of ``container`` but whole volumes that ``allowed``
    accepts by name and path (a subPath mount is never one of the injector's)."""
    base = fieldpath.key(container.path, "volumeMounts")
    for item in as_list(container.body.get("volumeMounts")):
        mount = as_dict(item)
        name, path = str(mount.get("name")), str(mount.get("mountPath"))
        whole = not mount.get("subPath") and not mount.get("subPathExpr")
        if whole and allowed(name, path):
            continue
        yield problem(
            code,
            container,
            f"mounts {fieldpath.shown(name)} at {fieldpath.shown(path)}, which",
            why,
            fieldpath.named(base, name),
            path,
        )


def exec_handlers(container: ContainerView) -> Iterator[tuple[str, list[str], str]]:
    """(where, command, path) of each probe or lifecycle hook of ``container`` that runs a
    command: ``where`` is ``livenessProbe`` or ``lifecycle.preStop``, and so on."""
    lifecycle = as_dict(container.body.get("lifecycle"))
    handlers = [(f"lifecycle.{hook}", as_dict(lifecycle.get(hook))) for hook in lifecycle]
    handlers += [
        (probe, as_dict(container.body.get(probe)))
        for probe in ("livenessProbe", "readinessProbe", "startupProbe")
    ]
    for where, handler in handlers:
        if "exec" not in handler:
            continue
        path = container.path
        for part in (*where.split("."), "exec"):
            path = fieldpath.key(path, part)
        yield where, strings(as_dict(handler.get("exec")).get("command")), path


def _iptables_mounts(container: ContainerView) -> Iterator[Violation]:
    """The injector mounts nothing into istio-init: a volume there may replace the binaries
    (``/usr/local/bin/pilot-agent``) that install the capture, as root with NET_ADMIN."""
    return judge_mounts(container, is_service_account_mount, Code.INTERCEPTION_EXCLUDED,
                        "may replace what installs the capture")


def _iptables_commands(container: ContainerView) -> Iterator[Violation]:
    """A probe or hook of istio-init (a native sidecar may have them) runs a command as root
    with NET_ADMIN beside the capture, which can flush it; the injector writes none."""
    for where, command, path in exec_handlers(container):
        shown = " ".join(command)
        yield problem(
            Code.INTERCEPTION_EXCLUDED,
            container,
            f"{where} runs {fieldpath.shown(shown)!r} beside the capture, which",
            "it can undo (the injector writes no command there)",
            path,
            shown,
        )


# Flags istio-iptables needs to capture everything, which the injector always writes: without
# -i it captures no outbound traffic, without -u it leaves the image's istio-proxy user (1337)
# uncaptured whatever UID the proxy runs as.
REQUIRED_FLAGS = {
    "istio-service-cidr": "captures no outbound traffic (the injector writes -i *)",
    "proxy-uid": "leaves the image's UID 1337 uncaptured (the injector writes -u)",
}
_FLAG_ENV = {flag.env: flag.rule for flag in IPTABLES_FLAGS.values() if flag.env}


def _iptables_env_rule(name: str) -> Rule | None:
    if name in _FLAG_ENV:
        return _FLAG_ENV[name]
    if name in IPTABLES_ENV_ONLY:
        return IPTABLES_ENV_ONLY[name]
    if name in PROXY_METADATA_ALLOWED:
        return _fine  # the injector copies the proxy's metadata into istio-init's environment
    return None
