"""Judging infrastructure objects against the example rules/ mirrored in code.

The infrastructure checks' unit tests use it so they do not depend on the loader.
"""

from __future__ import annotations

from typing import Any

from tests.example_policy import NOW, example_policy
from webhook.engine import evaluate
from webhook.model.decision import Decision
from webhook.model.review import AdmissionRequest, GroupVersionKind, UserInfo

DEVELOPER = UserInfo(username="developer@example.com", groups=("developers",))
SECURITY_ADMIN = UserInfo(username="security-admin")
SECURITY_GROUP = UserInfo(username="alice", groups=("egressguard:security",))
ARGOCD = UserInfo(username="system:serviceaccount:argocd:argocd-application-controller")

def _gvk(obj: dict[str, Any]) -> GroupVersionKind:
    api_version = obj.get("apiVersion", "v1")
    group, _, version = str(api_version).rpartition("/")
    return GroupVersionKind(group, version, str(obj.get("kind", "")))


def request(
    obj: dict[str, Any] | None,
    *,
    old: dict[str, Any] | None = None,
    operation: str = "CREATE",
    namespace: str | None = None,
    user: UserInfo = DEVELOPER,
) -> AdmissionRequest:
    """The AdmissionRequest the API server sends for this object (or old object)."""
    subject = obj if obj is not None else old
    assert subject is not None
    meta = subject.get("metadata", {})
    if namespace is None:
        namespace = meta.get("namespace", "")
        if subject.get("kind") == "Namespace":
            namespace = meta.get("name", "")  # as the API server sends it since 1.20
    return AdmissionRequest(
        uid="test",
        kind=_gvk(subject),
        operation=operation,
        name=meta.get("name", ""),
        namespace=namespace,
        user=user,
        object=obj,
        old_object=old,
    )


def judge(
    obj: dict[str, Any] | None,
    *,
    old: dict[str, Any] | None = None,
    operation: str = "CREATE",
    namespace: str | None = None,
    user: UserInfo = DEVELOPER,
    namespace_labels: dict[str, str] | None = None,
) -> Decision:
    """evaluate() on the example policy, the way the webhook calls it."""
    return evaluate(
        request(obj, old=old, operation=operation, namespace=namespace, user=user),
        example_policy(),
        now=NOW,
        namespace_labels={} if namespace_labels is None else namespace_labels,
    )
