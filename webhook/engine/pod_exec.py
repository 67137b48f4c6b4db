"""``kubectl exec`` and ``kubectl attach`` into the mesh's own containers.

A shell in ``istio-proxy`` (or an init container that shares its UID) runs as the proxy's
UID, whose traffic the sidecar never captures: from there a pod reaches the internet around
the capture. The API server sends the CONNECT of ``pods/exec`` and ``pods/attach`` with a
PodExecOptions or PodAttachOptions object naming the ``container``; the pod itself is not
sent, so the container is judged by its name.

When no container is named, the API server picks the pod's only container, which is the
proxy in a gateway or waypoint pod; kubectl always names the container it defaulted to. A
request that names none could therefore be the proxy and is refused, asking for ``-c``.
"""

from __future__ import annotations

from webhook.engine import fieldpath
from webhook.engine.context import Context, Findings
from webhook.model.decision import Code, Violation
from webhook.model.review import JSONObject

MESH_CONTAINER_NAMES = frozenset({"istio-proxy", "istio-init", "istio-validation"})
# The subresources whose CONNECT runs a process in, or attaches to, a container.
JUDGED_SUBRESOURCES = frozenset({"exec", "attach"})


def judge_connect(ctx: Context, obj: JSONObject) -> Findings:
    """proxy-exec for a CONNECT of ``pods/exec`` or ``pods/attach``."""
    subresource = ctx.request.sub_resource
    if subresource not in JUDGED_SUBRESOURCES:
        return Findings()
    container = obj.get("container")
    if container in (None, ""):
        message = (
            f"{subresource} without a container may enter the pod's only container, the mesh "
            "proxy in a gateway; name the container (kubectl -c NAME)"
        )
        return _found(message, "")
    if not isinstance(container, str):
        return _found(f"{subresource} names an unreadable container; name it as a string", "?")
    if container not in MESH_CONTAINER_NAMES:
        return Findings()
    message = (
        f"{subresource} into {fieldpath.shown(container)} runs as the mesh proxy's UID, whose "
        "traffic is never captured; only the security team may (trustedPrincipals)"
    )
    return _found(message, container)


def _found(message: str, container: str) -> Findings:
    return Findings(violations=(Violation(Code.PROXY_EXEC, message, "container", value=container),))
