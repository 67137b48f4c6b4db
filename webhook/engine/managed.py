"""Objects egressguard manages, and the deletions that empty a namespace.

Everything ``render`` writes carries ``app.kubernetes.io/managed-by: egressguard``: the
gateways' routes and policies, the fence, the per-destination proxies. Changing or deleting
one undoes the rules repo, so from an untrusted principal any UPDATE that changes one, or any
DELETE of one, is ``managed-object``, whatever its kind. What counts as a change is anything
but the API server's bookkeeping, notes (annotations outside the Kubernetes and Istio domains)
and status (a controller's, written through its subresource); annotations Istio reads count
(``istio.io/dry-run`` turns an AuthorizationPolicy off).

NetworkPolicies keep ``netpol-open-egress`` for this, the code v1 gave it, so scripts matching
it keep working: where a kind's own check already refuses the change at the managed-by label,
``managed-object`` is not reported beside it.

A namespace being deleted is emptied by the namespace controller; refusing its DELETEs would
leave the namespace stuck Terminating, and nothing can egress from a namespace being emptied,
so those DELETEs are admitted (:func:`deletion_empties_namespace`).
"""

from __future__ import annotations

from typing import Any

from webhook.engine import fieldpath
from webhook.engine.context import Context, labels_of, metadata
from webhook.model.decision import Code, Violation
from webhook.model.review import AdmissionRequest, JSONObject

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "egressguard"
NAMESPACE_CONTROLLER = "system:serviceaccount:kube-system:namespace-controller"
# Written by the API server, never a user's choice.
BOOKKEEPING = frozenset(
    {
        "resourceVersion",
        "managedFields",
        "generation",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    }
)
# Annotations in these domains change what Kubernetes or Istio do with an object
# (``istio.io/dry-run``, ``networking.istio.io/exportTo``); others are notes.
CONFIGURING_DOMAINS = ("istio.io", "kubernetes.io", "k8s.io", "egressguard.io")
ASK = "change the rules repo and render again, or ask the security team"


def is_managed(obj: JSONObject) -> bool:
    return labels_of(obj).get(MANAGED_BY) == MANAGER


def _configures(annotation: str) -> bool:
    """Whether an annotation is in a domain whose annotations Kubernetes or Istio act on."""
    domain, _, _ = annotation.rpartition("/")
    return any(domain == d or domain.endswith("." + d) for d in CONFIGURING_DOMAINS)


def _content(obj: JSONObject) -> dict[str, Any]:
    meta = {k: v for k, v in metadata(obj).items() if k not in BOOKKEEPING}
    annotations = meta.pop("annotations", None)
    if isinstance(annotations, dict):
        kept = {k: v for k, v in annotations.items() if _configures(str(k))}
        if kept:
            meta["annotations"] = kept
    elif annotations is not None:
        meta["annotations"] = annotations
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    return {"metadata": meta, **body}


def _changed(old: JSONObject, new: JSONObject) -> bool:
    try:
        return _content(old) != _content(new)
    except RecursionError:  # too deep to compare: judged as a change (fail closed)
        return True


def judge_managed_change(
    ctx: Context, old: JSONObject | None, new: JSONObject | None
) -> tuple[Violation, ...]:
    """``managed-object`` for an UPDATE that changes, or a DELETE of, a managed object."""
    request = ctx.request
    path = fieldpath.key("metadata.labels", MANAGED_BY)
    kind = request.kind.kind or "object"
    if request.operation == "DELETE" and old is None:
        message = f"cannot tell whether this {kind} is managed by egressguard; {ASK}"
        return (Violation(Code.MANAGED_OBJECT, message, path, infrastructure=True),)
    if old is None or not is_managed(old):
        return ()
    if request.operation == "DELETE":
        action = "deleting"
    elif request.operation == "UPDATE" and new is not None and _changed(old, new):
        action = "changing"
    else:
        return ()
    name = metadata(old).get("name") or request.name
    message = (
        f"{action} {kind} {fieldpath.shown(name)} is refused: egressguard renders it from the "
        f"rules repo; {ASK}"
    )
    return (Violation(Code.MANAGED_OBJECT, message, path, infrastructure=True),)


def deletion_empties_namespace(request: AdmissionRequest, *, namespace_terminating: bool) -> bool:
    """A DELETE by the namespace controller, or of an object in a terminating namespace."""
    if request.operation != "DELETE":
        return False
    return request.user.username == NAMESPACE_CONTROLLER or namespace_terminating


