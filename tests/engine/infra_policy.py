"""Judging infrastructure objects against the example rules/ mirrored in code.

The infrastructure checks' unit tests use it so they do not depend on the loader.
"""

from __future__ import annotations

from typing import Any

from tests import admission
from tests.example_policy import NOW, example_policy
from webhook.engine import evaluate
from webhook.model.decision import Decision
from webhook.model.review import AdmissionRequest, UserInfo

DEVELOPER = UserInfo(username="developer@example.com", groups=("developers",))
SECURITY_ADMIN = UserInfo(username="security-admin")
SECURITY_GROUP = UserInfo(username="alice", groups=("egressguard:security",))
ARGOCD = UserInfo(username="system:serviceaccount:argocd:argocd-application-controller")

def request(
    obj: dict[str, Any] | None,
    *,
    old: dict[str, Any] | None = None,
    operation: str = "CREATE",
    namespace: str | None = None,
    user: UserInfo = DEVELOPER,
) -> AdmissionRequest:
    """The AdmissionRequest the API server sends for this object (or old object)."""
    return admission.request(obj, old=old, operation=operation, namespace=namespace,
                             user=user)


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
