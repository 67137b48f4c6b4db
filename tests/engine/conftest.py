"""A Policy mirroring the example rules/ in Python, and a way to judge objects against it.

The unit tests of the pod checks do not depend on the loader: they build the rules with
``Policy.build`` and call :func:`webhook.engine.evaluate` as the webhook does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Protocol

import pytest

from webhook.engine import evaluate
from webhook.model.decision import Decision
from webhook.model.review import AdmissionRequest, GroupVersionKind, UserInfo
from webhook.model.rules import (
    Access,
    Config,
    Destination,
    Gateway,
    Grant,
    Mode,
    Policy,
    PolicyException,
    Port,
    TrustedPrincipals,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DEVELOPER = UserInfo(username="developer@example.com", groups=("system:authenticated",))

CONFIG = Config(
    label_prefix="egressguard.io",
    default_mode=Mode.ENFORCE,
    exempt_namespaces=frozenset(
        {"kube-system", "kube-public", "kube-node-lease", "egressguard-system"}
    ),
    gateways=(
        Gateway("istio-egressgateway", "istio-egress", {"istio": "egressgateway"}),
        Gateway("payments-egressgateway", "payments-egress", {"istio": "payments-egressgateway"}),
    ),
    mesh_root_namespace="istio-system",
    proxy_images=frozenset({"docker.io/istio/proxyv2", "gcr.io/istio-release/proxyv2"}),
    trusted=TrustedPrincipals(
        users=frozenset({"security-admin"}),
        groups=frozenset({"egressguard:security"}),
        service_accounts=frozenset({"istio-system:istiod", "argocd:argocd-application-controller"}),
    ),
    allowed_nameservers=frozenset({"10.96.0.10"}),
)


def _destination(
    name: str, hosts: tuple[str, ...], ports: tuple[tuple[int, str], ...], **extra: Any
) -> Destination:
    return Destination(
        name=name,
        hosts=hosts,
        ports=tuple(Port(number, protocol) for number, protocol in ports),
        gateway=extra.pop("gateway", "istio-egressgateway"),
        **extra,
    )


DESTINATIONS = (
    _destination("gcs", ("storage.googleapis.com",), ((443, "HTTPS"),)),
    _destination("github", ("github.com", "api.github.com"), ((443, "HTTPS"), (22, "TCP"))),
    _destination("googleapis", ("*.googleapis.com",), ((443, "HTTPS"),)),
    _destination("partner-api", ("orders.partner.example",), ((80, "HTTP"),), tls_origination=True),
    _destination(
        "pypi", ("pypi.org", "files.pythonhosted.org"), ((443, "HTTPS"),), access=Access.OPEN
    ),
    _destination("slack", ("hooks.slack.com",), ((443, "HTTPS"),)),
    _destination(
        "stripe", ("api.stripe.com",), ((443, "HTTPS"),), gateway="payments-egressgateway"
    ),
)


def _grant(
    namespace: str,
    service_account: str,
    host: str,
    port: int,
    destination: str,
    expires: date | None = None,
) -> Grant:
    return Grant(namespace, service_account, host, port, destination, expires=expires)


GRANTS = (
    _grant("ci", "builder", "github.com", 22, "github"),
    _grant("ci", "builder", "github.com", 443, "github"),
    _grant("ci", "builder", "storage.googleapis.com", 443, "gcs", date(2027, 6, 30)),
    _grant("data", "exporter", "bigquery.googleapis.com", 443, "googleapis"),
    _grant("shop", "checkout", "api.stripe.com", 443, "stripe"),
    _grant("shop", "checkout", "orders.partner.example", 80, "partner-api"),
    _grant("shop", "default", "hooks.slack.com", 443, "slack"),
    _grant("shop", "notifier", "hooks.slack.com", 443, "slack", date(2026, 1, 31)),
)

EXCEPTIONS = (
    PolicyException(
        name="legacy-vpn",
        namespace="legacy",
        service_account="vpn-client",
        codes=frozenset({"net-capability"}),
        expires=date(2027, 3, 31),
        reason="The legacy VPN client manages its own tun device until it is retired (SEC-88).",
    ),
)


def example_policy() -> Policy:
    return Policy.build(
        config=CONFIG, destinations=DESTINATIONS, grants=GRANTS, exceptions=EXCEPTIONS
    )


KINDS = {
    "Pod": GroupVersionKind("", "v1", "Pod"),
    "Deployment": GroupVersionKind("apps", "v1", "Deployment"),
    "ReplicaSet": GroupVersionKind("apps", "v1", "ReplicaSet"),
    "StatefulSet": GroupVersionKind("apps", "v1", "StatefulSet"),
    "DaemonSet": GroupVersionKind("apps", "v1", "DaemonSet"),
    "Job": GroupVersionKind("batch", "v1", "Job"),
    "CronJob": GroupVersionKind("batch", "v1", "CronJob"),
}


class Judge(Protocol):
    def __call__(
        self,
        obj: dict[str, Any] | None,
        *,
        operation: str = ...,
        old: dict[str, Any] | None = ...,
        namespace: str | None = ...,
        sub_resource: str = ...,
        mode: str | None = ...,
        now: datetime = ...,
        user: UserInfo = ...,
    ) -> Decision: ...


@pytest.fixture(scope="session")
def policy() -> Policy:
    return example_policy()


@pytest.fixture
def judge(policy: Policy) -> Judge:
    """Judges an object as the API server would send it: a CREATE unless told otherwise."""

    def run(
        obj: dict[str, Any] | None,
        *,
        operation: str = "CREATE",
        old: dict[str, Any] | None = None,
        namespace: str | None = None,
        sub_resource: str = "",
        mode: str | None = None,
        now: datetime = NOW,
        user: UserInfo = DEVELOPER,
    ) -> Decision:
        body = obj if obj is not None else old
        assert body is not None
        metadata = body.get("metadata", {})
        ns = namespace if namespace is not None else metadata.get("namespace", "default")
        request = AdmissionRequest(
            uid="test",
            kind=KINDS[body["kind"]],
            operation=operation,
            sub_resource=sub_resource,
            name=metadata.get("name", ""),
            namespace=ns,
            user=user,
            object=obj,
            old_object=old,
        )
        labels = {CONFIG.mode_label: mode} if mode is not None else {}
        return evaluate(request, policy, now=now, namespace_labels=labels)

    return run


PodFactory = Callable[..., dict[str, Any]]


def make_pod(
    *,
    namespace: str = "shop",
    service_account: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Pod as kubectl would send it, with one plain container unless told otherwise."""
    metadata: dict[str, Any] = {"name": "app", "namespace": namespace}
    if labels is not None:
        metadata["labels"] = labels
    if annotations is not None:
        metadata["annotations"] = annotations
    body: dict[str, Any] = {
        "containers": containers
        if containers is not None
        else [{"name": "app", "image": "registry.example.com/shop/app:1.4.2"}],
        **spec,
    }
    if service_account is not None:
        body["serviceAccountName"] = service_account
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": body}


@pytest.fixture
def pod() -> PodFactory:
    return make_pod
