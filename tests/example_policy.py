"""The bundled rules/ as a Policy built in code, so unit tests do not depend on the loader.

The engine's and render's unit tests share it; the policy cases under tests/cases run
against the real repository, and ``tests/render/test_golden.py``
(``test_the_loader_reads_rules_as_this_mirror``) keeps the two in step.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime
from types import MappingProxyType

from webhook.model.addresses import InternalRanges
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

# The clock tests judge and render at: the notifier's Slack grant has expired by then.
NOW = GOLDEN_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GOLDEN_REVISION = "rules-example"

HTTPS_443 = Port(443, "HTTPS")

CONFIG = Config(
    label_prefix="egressguard.io",
    default_mode=Mode.ENFORCE,
    exempt_namespaces=frozenset(
        {"kube-system", "kube-public", "kube-node-lease", "egressguard-system"}
    ),
    gateways=(
        Gateway(
            "istio-egressgateway", "istio-egress", MappingProxyType({"istio": "egressgateway"})
        ),
        Gateway(
            "payments-egressgateway",
            "payments-egress",
            MappingProxyType({"istio": "payments-egressgateway"}),
        ),
    ),
    mesh_root_namespace="istio-system",
    proxy_images=frozenset({"docker.io/istio/proxyv2", "gcr.io/istio-release/proxyv2"}),
    trusted=TrustedPrincipals(
        users=frozenset({"security-admin"}),
        groups=frozenset({"egressguard:security"}),
        service_accounts=frozenset(
            {"istio-system:istiod", "argocd:argocd-application-controller"}
        ),
    ),
    allowed_nameservers=frozenset({"10.96.0.10"}),
    cluster_domain="cluster.local",
    internal_ranges=InternalRanges((ipaddress.ip_network("2600:1f18:4c2b:8a00::/56"),)),
    infrastructure=frozenset(
        {
            ("istio-system", "istiod"),
            ("istio-system", "istio-ingressgateway-service-account"),
            ("istio-system", "ztunnel"),
            ("istio-system", "istio-cni"),
            ("istio-egress", "istio-egressgateway-service-account"),
            ("istio-egress", "istio-egressgateway"),
            ("payments-egress", "payments-egressgateway-service-account"),
            ("payments-egress", "payments-egressgateway"),
        }
    ),
)

DESTINATIONS = (
    Destination("gcs", ("storage.googleapis.com",), (HTTPS_443,), "istio-egressgateway"),
    Destination(
        "github",
        ("github.com", "api.github.com"),
        (HTTPS_443, Port(22, "TCP")),
        "istio-egressgateway",
    ),
    Destination("googleapis", ("*.googleapis.com",), (HTTPS_443,), "istio-egressgateway"),
    Destination(
        "partner-api",
        ("orders.partner.example",),
        (Port(80, "HTTP"),),
        "istio-egressgateway",
        tls_origination=True,
        block_body_patterns=("-----BEGIN RSA PRIVATE KEY-----", "AKIA"),
    ),
    Destination(
        "pypi",
        ("pypi.org", "files.pythonhosted.org"),
        (HTTPS_443,),
        "istio-egressgateway",
        access=Access.OPEN,
    ),
    Destination("slack", ("hooks.slack.com",), (HTTPS_443,), "istio-egressgateway"),
    Destination("stripe", ("api.stripe.com",), (HTTPS_443,), "payments-egressgateway"),
)

GRANTS = (
    Grant("ci", "builder", "github.com", 22, "github"),
    Grant("ci", "builder", "github.com", 443, "github"),
    Grant("ci", "builder", "storage.googleapis.com", 443, "gcs", expires=date(2027, 6, 30)),
    Grant("data", "exporter", "bigquery.googleapis.com", 443, "googleapis"),
    Grant("shop", "checkout", "api.stripe.com", 443, "stripe"),
    Grant("shop", "checkout", "orders.partner.example", 80, "partner-api"),
    Grant("shop", "default", "hooks.slack.com", 443, "slack"),
    Grant("shop", "notifier", "hooks.slack.com", 443, "slack", expires=date(2026, 1, 31)),
)

EXCEPTIONS = (
    PolicyException(
        "legacy-vpn",
        "legacy",
        frozenset({"net-capability"}),
        date(2027, 3, 31),
        service_account="vpn-client",
    ),
)


def example_policy(
    *,
    destinations: tuple[Destination, ...] = DESTINATIONS,
    grants: tuple[Grant, ...] = GRANTS,
    config: Config = CONFIG,
    revision: str = GOLDEN_REVISION,
) -> Policy:
    return Policy.build(
        config=config,
        destinations=destinations,
        grants=grants,
        exceptions=EXCEPTIONS,
        revision=revision,
    )
