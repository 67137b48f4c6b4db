"""What reaches the node from a pod: Pod Security Standards *baseline*'s host controls.

A container that shares the node's process or IPC namespace, mounts a folder of the node,
holds a capability outside baseline's list, or runs without seccomp, AppArmor or the /proc
mask can enter the node's network namespace (``nsenter -t 1 -n``), load a module or talk to
the container runtime, and from there leave by a path no gateway sees. The network host
controls (``hostNetwork``, ``privileged``, NET_ADMIN/NET_RAW/ALL) keep their own codes.

The rules follow Kubernetes' pod-security-admission baseline checks (host namespaces, host
path volumes, capabilities, seccomp, AppArmor, SELinux, procMount, probe and lifecycle
hosts), judged by their effect: a capability counts whatever its case or ``CAP_`` prefix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from webhook.engine import fieldpath
from webhook.engine.context import as_dict
from webhook.engine.pod_security import NET_CAPABILITIES, capability_name
from webhook.engine.podspec import ContainerView, PodView, is_true, strings
from webhook.model.decision import Code, Violation

# Pod Security Standards baseline: the capabilities a container may add.
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"
APPARMOR_CONTAINER_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
_HOST_NAMESPACES = {
    "hostPID": "shares the node's processes (nsenter -t 1 reaches the node's network)",
    "hostIPC": "shares the node's IPC namespace",
}
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_LIFECYCLE = ("postStart", "preStop")


def _escape(message: str, path: str, value: object) -> Violation:
    """The value as found, whole (messages show it cut short): an UPDATE compares it."""
    return Violation(Code.NODE_ESCAPE, message, path, value=_whole(value))


def _whole(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def judge_node_escape(pod: PodView) -> list[Violation]:
    """node-escape on a pod or pod template; mesh containers are judged like any other."""
    found: list[Violation] = []
    for field_name, what in _HOST_NAMESPACES.items():
        if is_true(pod.spec.get(field_name)):
            found.append(
                _escape(
                    f"{field_name}: true {what}, outside every egress control; remove it",
                    pod.spec_field(field_name),
                    "true",
                )
            )
    for path, volume in pod.volumes:
        if "hostPath" in volume:
            host_path = as_dict(volume.get("hostPath")).get("path")
            found_path = host_path if isinstance(host_path, str) else "?"
            shown = fieldpath.shown(found_path)
            found.append(
                _escape(
                    f"hostPath volume {shown} mounts a folder of the node, from which a pod can "
                    "reach the node's network; use a PVC, configMap or emptyDir",
                    fieldpath.key(path, "hostPath"),
                    found_path,
                )
            )
    pod_context_path = pod.spec_field("securityContext")
    found.extend(_profiles(pod_context_path, as_dict(pod.spec.get("securityContext")), "the pod"))
    # In a user namespace (hostUsers: false) an unmasked /proc is the pod's own (baseline 1.35).
    own_user_namespace = pod.spec.get("hostUsers") is False
    for container in pod.containers():
        found.extend(_container(container, unmasked_ok=own_user_namespace))
    found.extend(_annotations(pod))
    return found


def _container(container: ContainerView, *, unmasked_ok: bool) -> Iterator[Violation]:
    context = container.security_context
    context_path = container.security_context_path
    add_path = fieldpath.key(fieldpath.key(context_path, "capabilities"), "add")
    added = strings(as_dict(context.get("capabilities")).get("add"))
    outside = {capability_name(c) for c in added} - BASELINE_CAPABILITIES - NET_CAPABILITIES
    for capability in sorted(outside):
        yield _escape(
            f"{container.described} adds {fieldpath.shown(capability)}, which can reach the "
            "node; remove it from capabilities.add",
            add_path,
            capability,
        )
    yield from _profiles(context_path, context, container.described)
    proc_mount = context.get("procMount")
    if proc_mount is not None and proc_mount != "Default" and not unmasked_ok:
        yield _escape(
            f"{container.described} sets procMount {fieldpath.shown(proc_mount)}, unmasking the "
            "node's /proc; remove it",
            fieldpath.key(context_path, "procMount"),
            proc_mount,
        )
    for probe_name in _PROBES:
        yield from _handler_hosts(container, probe_name, as_dict(container.body.get(probe_name)))
    lifecycle = as_dict(container.body.get("lifecycle"))
    for hook in _LIFECYCLE:
        yield from _handler_hosts(container, f"lifecycle.{hook}", as_dict(lifecycle.get(hook)))


def _handler_hosts(
    container: ContainerView, where: str, handler: dict[str, object]
) -> Iterator[Violation]:
    """A probe or hook with ``host`` is run by the kubelet, from the node, to that host."""
    for action in ("httpGet", "tcpSocket"):
        host = as_dict(handler.get(action)).get("host")
        if host in (None, ""):
            continue
        path = container.path
        for part in (*where.split("."), action, "host"):
            path = fieldpath.key(path, part)
        yield _escape(
            f"{container.described} {where}.{action}.host {fieldpath.shown(host)} makes the "
            "node itself connect there; remove host",
            path,
            host,
        )


def _one_of(value: object, allowed: frozenset[str]) -> bool:
    """A string among ``allowed``; a list or object (unhashable) is none of them."""
    return isinstance(value, str) and value in allowed


def _profiles(path: str, context: dict[str, object], who: str) -> Iterator[Violation]:
    """seccomp, AppArmor and SELinux settings of a pod or container security context."""
    for field_name, allowed in (
        ("seccompProfile", SECCOMP_TYPES),
        ("appArmorProfile", APPARMOR_TYPES),
    ):
        profile = context.get(field_name)
        if profile is None:
            continue
        kind = as_dict(profile).get("type")
        if not _one_of(kind, allowed):
            yield _escape(
                f"{who} sets {field_name}.type {fieldpath.shown(kind)}, lifting the confinement "
                "that keeps it off the node; use RuntimeDefault or Localhost",
                fieldpath.key(fieldpath.key(path, field_name), "type"),
                kind,
            )
    options = context.get("seLinuxOptions")
    if options is None:
        return
    selinux = as_dict(options)
    selinux_path = fieldpath.key(path, "seLinuxOptions")
    kind = selinux.get("type", "")
    if not _one_of(kind, SELINUX_TYPES):
        yield _escape(
            f"{who} sets seLinuxOptions.type {fieldpath.shown(kind)}, lifting the confinement "
            "that keeps it off the node; use container_t or leave it unset",
            fieldpath.key(selinux_path, "type"),
            kind,
        )
    for field_name in ("user", "role"):
        value = selinux.get(field_name)
        if value not in (None, ""):
            yield _escape(
                f"{who} sets seLinuxOptions.{field_name} {fieldpath.shown(value)}; remove it",
                fieldpath.key(selinux_path, field_name),
                value,
            )
    if not isinstance(options, dict):
        yield _escape(f"{who} has an unreadable seLinuxOptions; remove it", selinux_path, "?")


def _annotations(pod: PodView) -> Iterator[Violation]:
    """The annotation forms of seccomp (before 1.19) and AppArmor (before 1.30)."""
    for key, value in sorted(pod.annotations.items()):
        lowered = key.lower()
        if lowered.startswith(APPARMOR_CONTAINER_PREFIX):
            if value in ("", "runtime/default") or value.startswith("localhost/"):
                continue
        elif lowered == SECCOMP_POD_ANNOTATION or lowered.startswith(SECCOMP_CONTAINER_PREFIX):
            if value in ("runtime/default", "docker/default") or value.startswith("localhost/"):
                continue
        else:
            continue
        yield _escape(
            f"annotation {fieldpath.shown(key)}={fieldpath.shown(value)} lifts the confinement "
            "that keeps the pod off the node; use runtime/default or localhost/<profile>",
            pod.annotation_path(key),
            value,
        )
