"""Pod settings that reach the network around the sidecar and the gateway's NetworkPolicies.

The host's network namespace, capabilities that rewrite iptables or craft raw packets, a
privileged container, or the proxy's own UID/GID (whose traffic the sidecar never
captures) each open egress that no gateway sees.
"""

from __future__ import annotations

from webhook.engine import fieldpath
from webhook.engine.context import as_dict
from webhook.engine.mesh_containers import MeshPod
from webhook.engine.podspec import PodView, as_int, is_true, strings
from webhook.model.decision import Code, Violation

NET_CAPABILITIES = frozenset({"NET_ADMIN", "NET_RAW", "ALL"})
# Istio gives these to istio-init (and to istio-proxy in TPROXY mode); never ALL.
MESH_CAPABILITIES = frozenset({"NET_ADMIN", "NET_RAW"})


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
                value="true",
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
                    value="true",
                )
            )
    return found


def judge_containers(pod: PodView, mesh: MeshPod) -> list[Violation]:
    """net-capability, privileged and proxy-uid, the mesh's own containers told apart."""
    found = []
    for container in pod.containers():
        is_mesh = mesh.is_mesh(container)
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
            found.extend(
                _proxy_ids(container.security_context_path, context, container.described, mesh)
            )
    if not mesh.proxy_only:
        # A gateway or waypoint pod runs as its proxy; elsewhere the pod-level IDs are every
        # container's that sets none of its own.
        pod_context = as_dict(pod.spec.get("securityContext"))
        found.extend(_proxy_ids(pod.spec_field("securityContext"), pod_context, "the pod", mesh))
    return found


def _proxy_ids(path: str, context: dict[str, object], who: str, mesh: MeshPod) -> list[Violation]:
    found = []
    for field_name, protected in (
        ("runAsUser", mesh.protected_uids),
        ("runAsGroup", mesh.protected_gids),
    ):
        value = as_int(context.get(field_name))
        if value is not None and value in protected:
            found.append(
                Violation(
                    Code.PROXY_UID,
                    f"{who} runs with {field_name} {value}, the sidecar's own ID, whose "
                    "traffic is never captured; use another ID",
                    fieldpath.key(path, field_name),
                    value=str(value),
                )
            )
    return found
