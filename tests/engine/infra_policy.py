"""A Policy built in code that mirrors the example rules/ (config, destinations, grants).

The infrastructure checks' unit tests use it so they do not depend on the loader. Keep it in
step with rules/: the policy cases under tests/cases run against the real repository.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from webhook.engine import evaluate
from webhook.model.decision import Decision
from webhook.model.review import AdmissionRequest, GroupVersionKind, UserInfo
from webhook.model.rules import (
    Access,
    Config,
    Destination,
    Gateway,
    Grant,
    Policy,
    Port,
    TrustedPrincipals,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DEVELOPER = UserInfo(username="developer@example.com", groups=("developers",))
SECURITY_ADMIN = UserInfo(username="security-admin")
SECURITY_GROUP = UserInfo(username="alice", groups=("egressguard:security",))
ARGOCD = UserInfo(username="system:serviceaccount:argocd:argocd-application-controller")

HTTPS = Port(443, "HTTPS")


@cache
def example_policy() -> Policy:
    config = Config(
        exempt_namespaces=frozenset(
            {"kube-system", "kube-public", "kube-node-lease", "egressguard-system"}
        ),
        gateways=(
            Gateway("istio-egressgateway", "istio-egress", {"istio": "egressgateway"}),
            Gateway(
                "payments-egressgateway", "payments-egress", {"istio": "payments-egressgateway"}
            ),
        ),
        mesh_root_namespace="istio-system",
        trusted=TrustedPrincipals(
            users=frozenset({"security-admin"}),
            groups=frozenset({"egressguard:security"}),
            service_accounts=frozenset(
                {"istio-system:istiod", "argocd:argocd-application-controller"}
            ),
        ),
        allowed_nameservers=frozenset({"10.96.0.10"}),
    )
    gateway = "istio-egressgateway"
    destinations = (
        Destination("gcs", ("storage.googleapis.com",), (HTTPS,), gateway),
        Destination("github", ("github.com", "api.github.com"), (HTTPS, Port(22, "TCP")), gateway),
        Destination("googleapis", ("*.googleapis.com",), (HTTPS,), gateway),
        Destination(
            "partner-api",
            ("orders.partner.example",),
            (Port(80, "HTTP"),),
            gateway,
            tls_origination=True,
        ),
        Destination(
            "pypi", ("pypi.org", "files.pythonhosted.org"), (HTTPS,), gateway, access=Access.OPEN
        ),
        Destination("slack", ("hooks.slack.com",), (HTTPS,), gateway),
        Destination("stripe", ("api.stripe.com",), (HTTPS,), "payments-egressgateway"),
    )
    grants = (
        Grant("ci", "builder", "github.com", 443, "github"),
        Grant("ci", "builder", "github.com", 22, "github"),
        Grant("ci", "builder", "storage.googleapis.com", 443, "gcs", expires=date(2027, 6, 30)),
        Grant("shop", "checkout", "api.stripe.com", 443, "stripe"),
    )
    return Policy.build(config=config, destinations=destinations, grants=grants)


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
