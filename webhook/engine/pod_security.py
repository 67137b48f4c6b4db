"""Pod settings that reach the network around the sidecar and the gateway's NetworkPolicies.

The host's network namespace, capabilities that rewrite iptables or craft raw packets, a
privileged container, or the proxy's own UID/GID (whose traffic the sidecar never
captures) each open egress that no gateway sees.
"""

from __future__ import annotations

from collections.abc import Collection

from webhook.engine import fieldpath
from webhook.engine.context import as_dict
from webhook.engine.podspec import PodView, as_int, is_true, strings
from webhook.model.decision import Code, Violation

NET_CAPABILITIES = frozenset({"NET_ADMIN", "NET_RAW", "ALL"})
# Istio gives these to istio-init (and to istio-proxy in TPROXY mode); never ALL.
MESH_CAPABILITIES = frozenset({"NET_ADMIN", "NET_RAW"})
PROXY_ID = 1337


def capability_name(value: str) -> str:
    """``cap_net_admin`` -> ``NET_ADMIN``, as container runtimes read it."""
    return value.strip().upper().removeprefix("CAP_")


def judge_host_network(pod: PodView) -> list[Violation]:
    found = []
    if is_true(pod.spec.get("hostNetwork")):
        found.append(
            Violation(
                Code.HOST_NETWORK,
                "hostNetwork: true puts the pod on the node's network, outside every egress "
                "control; remove it",
                pod.spec_field("hostNetwork"),
            )
        )
    contexts = [(pod.spec_field("securityContext"), as_dict(pod.spec.get("securityContext")))]
    contexts += [(c.security_context_path, c.security_context) for c in pod.containers()]
    for path, context in contexts:
        if is_true(as_dict(context.get("windowsOptions")).get("hostProcess")):
            found.append(
                Violation(
                    Code.HOST_NETWORK,
                    "windowsOptions.hostProcess: true runs on the node's network, outside every "
                    "egress control; remove it",
                    fieldpath.key(fieldpath.key(path, "windowsOptions"), "hostProcess"),
                )
            )
    return found


def judge_containers(pod: PodView, mesh: Collection[tuple[str, int]]) -> list[Violation]:
    """net-capability, privileged and proxy-uid; ``mesh`` holds the mesh containers' slots."""
    found = []
    for container in pod.containers():
        is_mesh = container.slot in mesh
        context = container.security_context
        added = strings(as_dict(context.get("capabilities")).get("add"))
        allowed = MESH_CAPABILITIES if is_mesh else frozenset()
        add_path = fieldpath.key(
            fieldpath.key(container.security_context_path, "capabilities"), "add"
        )
        for bad in sorted({capability_name(c) for c in added} & (NET_CAPABILITIES - allowed)):
            found.append(
                Violation(
                    Code.NET_CAPABILITY,
                    f"{container.described} adds {bad}, which can bypass the egress gateway; "
                    "remove it from capabilities.add",
                    add_path,
                    value=bad,
                )
            )
        if is_true(context.get("privileged")):
            found.append(
                Violation(
                    Code.PRIVILEGED,
                    f"{container.described} is privileged and can bypass the egress gateway; "
                    "remove privileged: true",
                    fieldpath.key(container.security_context_path, "privileged"),
                    value="true",
                )
            )
        if not is_mesh:
            found.extend(_proxy_ids(container.security_context_path, context, container.described))
    pod_context = as_dict(pod.spec.get("securityContext"))
    found.extend(_proxy_ids(pod.spec_field("securityContext"), pod_context, "the pod"))
    return found


def _proxy_ids(path: str, context: dict[str, object], who: str) -> list[Violation]:
    found = []
    for field_name in ("runAsUser", "runAsGroup"):
        if as_int(context.get(field_name)) == PROXY_ID:
            found.append(
                Violation(
                    Code.PROXY_UID,
                    f"{who} runs with {field_name} {PROXY_ID}, the sidecar's own ID, whose "
                    "traffic is never captured; use another ID",
                    fieldpath.key(path, field_name),
                )
            )
    return found
