"""Objects that would open egress around the gateways: refused when a developer applies
them, admitted when the trusted security team does (rules/config.yaml trustedPrincipals)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl
from .objects import MODE_LABEL, unique

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("egressguard")]

Builder = Callable[[str], dict[str, Any]]


def service_entry(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "hosts": ["*.com"],
            "location": "MESH_EXTERNAL",
            "resolution": "NONE",
            "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
        },
    }


def envoy_filter(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "workloadSelector": {"labels": {"app": "checkout"}},
            "configPatches": [
                {
                    "applyTo": "CLUSTER",
                    "match": {"context": "SIDECAR_OUTBOUND"},
                    "patch": {
                        "operation": "ADD",
                        "value": {
                            "name": "direct-to-internet",
                            "type": "ORIGINAL_DST",
                            "lb_policy": "CLUSTER_PROVIDED",
                        },
                    },
                }
            ],
        },
    }


def sidecar(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Sidecar",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"outboundTrafficPolicy": {"mode": "ALLOW_ANY"}},
    }


def open_egress_policy(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
        },
    }


def external_name_service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"type": "ExternalName", "externalName": "api.github.com"},
    }


CASES: list[tuple[str, str, Builder, str]] = [
    ("serviceentry", "serviceentry.networking.istio.io", service_entry, "serviceentry-host"),
    ("envoyfilter", "envoyfilter.networking.istio.io", envoy_filter, "envoyfilter-outbound"),
    ("sidecar", "sidecar.networking.istio.io", sidecar, "sidecar-allow-any"),
    ("networkpolicy", "networkpolicy", open_egress_policy, "netpol-open-egress"),
    ("externalname", "service", external_name_service, "externalname-service"),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("prefix", "resource", "build", "code"), CASES, ids=IDS)
def test_developer_is_refused(
    developer: Kubectl, prefix: str, resource: str, build: Builder, code: str
) -> None:
    name = unique(f"dev-{prefix}")
    expect.denied(developer.apply(build(name)), code)
    expect.absent(developer, resource, name, "shop")


@pytest.mark.parametrize(("prefix", "resource", "build", "code"), CASES, ids=IDS)
def test_security_admin_is_admitted(
    security: Kubectl, prefix: str, resource: str, build: Builder, code: str
) -> None:
    name = unique(f"sec-{prefix}")
    expect.admitted(security.apply(build(name)))
    expect.stored(security, resource, name, "shop")


@pytest.mark.parametrize("version", ["v1alpha3", "v1beta1"])
def test_older_api_versions_are_judged_too(developer: Kubectl, version: str) -> None:
    """Custom resources are registered in every version: a ServiceEntry written through
    another served version."""
    name = unique(f"dev-se-{version}")
    entry = service_entry(name)
    entry["apiVersion"] = f"networking.istio.io/{version}"
    expect.denied(developer.apply(entry), "serviceentry-host")
    expect.absent(developer, "serviceentry.networking.istio.io", name, "shop")


def managed_autoscaler(name: str) -> dict[str, Any]:
    """A HorizontalPodAutoscaler as render writes one for a destination's proxy."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "shop", "labels": dict(MANAGED)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": 2,
        },
    }


def test_a_write_through_an_equivalent_api_version_is_judged_too(
    egressguard: EgressguardCluster, developer: Kubectl, security: Kubectl
) -> None:
    """matchPolicy Equivalent: the webhooks list HorizontalPodAutoscalers in autoscaling/v2
    only, and the API server serves the same objects as autoscaling/v1 too. Only Equivalent
    sends egressguard a write through v1 (converted to v2); with Exact it would never be
    judged. A developer holding a rendered proxy's autoscaler at one replica through v1 is
    refused (managed-object), though autoscalers have no check of their own."""
    name = unique("rendered-hpa")
    expect.admitted(security.apply(managed_autoscaler(name)))
    expect.denied(
        developer.run("patch", "horizontalpodautoscalers.v1.autoscaling", name, "-n", "shop",
                      "--type=merge", "-p", '{"spec": {"maxReplicas": 1}}'),
        "managed-object")
    stored = expect.stored(developer, "horizontalpodautoscalers.v2.autoscaling", name, "shop")
    assert stored["spec"]["maxReplicas"] == 2
    deadline = time.monotonic() + 10  # the audit writer batches its lines
    while not (sent := [r for r in egressguard.webhook.audit_records()
                        if (r["name"], r["operation"], r["user"])
                        == (name, "UPDATE", developer.identity)]):
        assert time.monotonic() < deadline, "the write through autoscaling/v1 was never sent"
        time.sleep(0.2)
    assert (sent[0]["group"], sent[0]["kind"], sent[0]["codes"]) == (
        "autoscaling", "HorizontalPodAutoscaler", ["managed-object"])
    expect.denied(developer.run("delete", "horizontalpodautoscaler", name, "-n", "shop"),
                  "managed-object")
    expect.stored(developer, "horizontalpodautoscaler", name, "shop")


def deleted_only_by_security(developer: Kubectl, security: Kubectl, document: dict[str, Any],
                             resource: str, code: str) -> None:
    """The security team creates ``document`` in shop; the developer's DELETE is refused
    with ``code`` and leaves it stored; the security team's DELETE removes it."""
    name = document["metadata"]["name"]
    expect.admitted(security.apply(document))
    expect.denied(developer.run("delete", resource, name, "-n", "shop"), code)
    expect.stored(developer, resource, name, "shop")
    expect.admitted(security.run("delete", resource, name, "-n", "shop"))
    expect.absent(developer, resource, name, "shop")


def test_deleting_a_rendered_disruption_budget_is_refused_for_the_developer(
    developer: Kubectl, security: Kubectl
) -> None:
    name = unique("rendered-pdb")
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "shop", "labels": dict(MANAGED)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}},
    }
    deleted_only_by_security(developer, security, budget, "poddisruptionbudget",
                             "managed-object")


def test_deleting_egressguards_network_policy_is_refused_for_the_developer(
    developer: Kubectl, security: Kubectl
) -> None:
    name = unique("default-deny-egress")
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "shop",
                     "labels": {"app.kubernetes.io/managed-by": "egressguard"}},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"]},
    }
    deleted_only_by_security(developer, security, policy, "networkpolicy", "netpol-open-egress")


def test_namespace_mode_relabel_is_refused_for_the_developer_and_admitted_for_security(
    egressguard: EgressguardCluster, developer: Kubectl, security: Kubectl
) -> None:
    name = unique("team")
    # The developer may create a namespace (without a mode) ...
    expect.admitted(
        developer.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    )
    # ... but not switch egressguard off for it.
    expect.denied(developer.run("label", "namespace", name, f"{MODE_LABEL}=off"), "namespace-mode")
    assert MODE_LABEL not in expect.labels(expect.stored(developer, "namespace", name))
    expect.admitted(security.run("label", "namespace", name, f"{MODE_LABEL}=warn"))
    assert expect.labels(expect.stored(developer, "namespace", name))[MODE_LABEL] == "warn"
    # Nor may the developer change or remove the mode the security team set.
    expect.denied(developer.run("label", "namespace", name, f"{MODE_LABEL}-"), "namespace-mode")
    expect.denied(
        developer.run("label", "--overwrite", "namespace", name, f"{MODE_LABEL}=off"),
        "namespace-mode",
    )


def test_developer_cannot_create_a_namespace_with_a_mode(developer: Kubectl) -> None:
    name = unique("optout")
    result = developer.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {MODE_LABEL: "off"}},
        }
    )
    expect.denied(result, "namespace-mode")
    expect.absent(developer, "namespace", name)


RENDERED_NAMESPACE = (Path(__file__).resolve().parents[1] / "golden" / "render" / "istio-sidecar"
                      / "namespace-shop.yaml")


def test_namespace_with_a_rendered_fence_deletes_cleanly(
    egressguard: EgressguardCluster, developer: Kubectl, admin: Kubectl
) -> None:
    """The namespace controller empties a namespace being deleted, managed fence included;
    a developer still cannot take the fence down by hand."""
    name = unique("leaving")
    egressguard.add_team_namespace(name, creator=egressguard.security)
    rendered = [doc for doc in yaml.safe_load_all(RENDERED_NAMESPACE.read_text()) if doc]
    for doc in rendered:
        doc["metadata"]["namespace"] = name
    expect.admitted(egressguard.security.apply(rendered))
    fence = rendered[0]["metadata"]["name"]
    expect.denied(developer.run("delete", "networkpolicy", fence, "-n", name))
    expect.admitted(admin.run("delete", "namespace", name, "--timeout=90s", timeout=100))
    expect.absent(admin, "namespace", name)
    refused = [r for r in egressguard.webhook.audit_records()
               if r.get("namespace") == name and r["operation"] == "DELETE"
               and not r["allowed"]]
    # The developer's delete was refused; the namespace controller's never were.
    assert {r["user"] for r in refused} == {developer.identity}, refused


MANAGED = {"app.kubernetes.io/managed-by": "egressguard"}


def managed_objects(name: str) -> list[dict[str, Any]]:
    """What render writes for a team namespace, in small: a route and a gateway policy."""
    meta = {"name": name, "namespace": "shop", "labels": dict(MANAGED)}
    return [
        {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": meta,
         "spec": {"hosts": ["api.stripe.com"], "location": "MESH_EXTERNAL",
                  "resolution": "DNS",
                  "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"ports": [{"port": 443}], "selector": {"app": name}}},
    ]


@pytest.mark.parametrize(
    "change",
    [
        ["delete", "serviceentry.networking.istio.io", "{name}", "-n", "shop"],
        ["delete", "service", "{name}", "-n", "shop"],
        ["label", "serviceentry.networking.istio.io", "{name}", "-n", "shop",
         "app.kubernetes.io/managed-by-"],
        # The API server keeps a Service's spec on a status write, but not its labels.
        ["patch", "service", "{name}", "-n", "shop", "--subresource=status", "--type=merge",
         "-p", '{"metadata":{"labels":{"app.kubernetes.io/managed-by":null}}}'],
    ],
    ids=["delete", "delete-service", "unlabel", "unlabel-through-status"],
)
def test_what_egressguard_renders_cannot_be_undone_by_a_developer(
    security: Kubectl, developer: Kubectl, admin: Kubectl, change: list[str]
) -> None:
    name = unique("rendered")
    expect.admitted(security.apply(managed_objects(name)))
    argv = [a.replace("{name}", name) for a in change]
    # Status subresources are not the developer's to write: an administrator who is not a
    # trusted principal stands in for whoever has that right.
    kubectl = admin if "--subresource=status" in argv else developer
    expect.denied(kubectl.run(*argv), "managed-object")
    for kind in ("serviceentry.networking.istio.io", "service"):
        assert expect.labels(expect.stored(security, kind, name, "shop")) == MANAGED
