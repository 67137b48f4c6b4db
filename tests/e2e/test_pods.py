"""Pods as a developer creates them with kubectl: entitlement labels for what the rules
grant, refusals that say which rules file to add, and no way to label oneself in."""

from __future__ import annotations

import json

import pytest

from . import expect
from .kubectl import Kubectl
from .objects import allow_label, pod, unique

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("egressguard")]


def entitlements(obj: dict) -> set[str]:
    return {k for k in expect.labels(obj) if k.startswith("egressguard.io/allow-")}


@pytest.mark.parametrize(
    ("namespace", "account", "egress", "expected"),
    [
        ("shop", "checkout", "api.stripe.com:443", {"stripe", "partner-api"}),
        ("shop", "checkout", "api.stripe.com:443, pypi.org:443", {"stripe", "partner-api", "pypi"}),
        ("ci", "builder", "github.com:443", {"github", "gcs"}),
        ("data", "exporter", "bigquery.googleapis.com:443", {"googleapis"}),
        ("shop", None, "hooks.slack.com:443", {"slack"}),
        ("ci", None, "pypi.org:443", {"pypi"}),
    ],
    ids=[
        "checkout-stripe",
        "checkout-plus-open-pypi",
        "ci-builder",
        "data-exporter",
        "shop-default",
        "open-destination-only",
    ],
)
def test_granted_pod_is_stored_with_its_entitlement_labels(
    developer: Kubectl, namespace: str, account: str | None, egress: str, expected: set[str]
) -> None:
    name = unique("granted")
    result = developer.apply(pod(name, namespace, service_account=account, egress=egress))
    expect.admitted(result)
    assert f"pod/{name} created" in result.stdout
    stored = expect.stored(developer, "pod", name, namespace)
    assert entitlements(stored) == {allow_label(d) for d in expected}
    assert all(expect.labels(stored)[allow_label(d)] == "true" for d in expected)


def test_pod_without_requests_gets_only_its_grants(developer: Kubectl) -> None:
    name = unique("plain")
    expect.admitted(developer.apply(pod(name, "ci", service_account="builder")))
    assert entitlements(expect.stored(developer, "pod", name, "ci")) == {
        allow_label("github"),
        allow_label("gcs"),
    }


def test_ungranted_host_is_refused_naming_the_rules_file(developer: Kubectl) -> None:
    name = unique("ungranted")
    result = developer.apply(pod(name, "shop", service_account="checkout", egress="github.com:443"))
    expect.denied(result, "grant-missing", "services/shop/checkout/github.com:443.rule")
    expect.absent(developer, "pod", name, "shop")


def test_unknown_host_is_refused(developer: Kubectl) -> None:
    name = unique("unknown")
    result = developer.apply(
        pod(name, "shop", service_account="checkout", egress="evil.example.net:443")
    )
    expect.denied(result, "unknown-destination", "evil.example.net:443")
    expect.absent(developer, "pod", name, "shop")


def test_expired_grant_is_refused_as_expired(developer: Kubectl) -> None:
    # rules/services/shop/notifier/hooks.slack.com:443.rule expired on 2026-01-31.
    name = unique("expired")
    result = developer.apply(
        pod(name, "shop", service_account="notifier", egress="hooks.slack.com:443")
    )
    expect.denied(result, "grant-expired")
    expect.absent(developer, "pod", name, "shop")


def test_self_assigned_entitlement_label_is_refused(developer: Kubectl) -> None:
    name = unique("selflabel")
    result = developer.apply(pod(name, "shop", labels={allow_label("stripe"): "true"}))
    expect.denied(result, "managed-label", allow_label("stripe"))
    expect.absent(developer, "pod", name, "shop")


def test_kubectl_label_adding_an_entitlement_is_refused(developer: Kubectl) -> None:
    name = unique("relabel")
    expect.admitted(developer.apply(pod(name, "shop")))
    result = developer.run("label", "pod", name, "-n", "shop", f"{allow_label('stripe')}=true")
    expect.denied(result, "managed-label")
    assert allow_label("stripe") not in expect.labels(expect.stored(developer, "pod", name, "shop"))


def test_kubectl_label_with_an_ordinary_label_is_admitted(developer: Kubectl) -> None:
    name = unique("tidy")
    expect.admitted(developer.apply(pod(name, "shop", service_account="checkout")))
    expect.admitted(developer.run("label", "pod", name, "-n", "shop", "team=payments"))
    assert expect.labels(expect.stored(developer, "pod", name, "shop"))["team"] == "payments"


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"hostNetwork": True}, "host-network"),
        (
            {
                "containers": [
                    {
                        "name": "app",
                        "image": "registry.k8s.io/pause:3.10",
                        "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}},
                    }
                ]
            },
            "net-capability",
        ),
        (
            {
                "containers": [
                    {
                        "name": "app",
                        "image": "registry.k8s.io/pause:3.10",
                        "securityContext": {"privileged": True},
                    }
                ]
            },
            "privileged",
        ),
        ({"dnsPolicy": "Default"}, "dns-override"),
    ],
    ids=["host-network", "net-admin", "privileged", "dns-default"],
)
def test_pod_escaping_the_gateways_is_refused(developer: Kubectl, spec: dict, code: str) -> None:
    name = unique(code)
    expect.denied(developer.apply(pod(name, "shop", **spec)), code)
    expect.absent(developer, "pod", name, "shop")


def test_ephemeral_container_with_net_admin_is_refused(developer: Kubectl) -> None:
    """``kubectl debug --profile=netadmin`` adds NET_ADMIN through pods/ephemeralcontainers."""
    name = unique("debugged")
    expect.admitted(developer.apply(pod(name, "shop")))
    result = developer.run(
        "debug",
        f"pod/{name}",
        "-n",
        "shop",
        "--image=busybox:1.37",
        "--profile=netadmin",
        "--container=netdebug",
    )
    expect.denied(result, "net-capability")
    stored = expect.stored(developer, "pod", name, "shop")
    assert not stored["spec"].get("ephemeralContainers")


def test_ephemeral_container_patch_with_net_raw_is_refused(developer: Kubectl) -> None:
    """The same through ``kubectl patch --subresource=ephemeralcontainers``."""
    name = unique("patched")
    expect.admitted(developer.apply(pod(name, "shop")))
    container = {
        "name": "sniffer",
        "image": "busybox:1.37",
        "securityContext": {"capabilities": {"add": ["net_raw"]}},
    }
    result = developer.run(
        "patch",
        "pod",
        name,
        "-n",
        "shop",
        "--subresource=ephemeralcontainers",
        "--type=strategic",
        "-p",
        json.dumps({"spec": {"ephemeralContainers": [container]}}),
    )
    expect.denied(result, "net-capability")
    assert not expect.stored(developer, "pod", name, "shop")["spec"].get("ephemeralContainers")


def test_ephemeral_container_without_capabilities_is_admitted(developer: Kubectl) -> None:
    name = unique("debugged")
    expect.admitted(developer.apply(pod(name, "shop")))
    result = developer.run(
        "debug",
        f"pod/{name}",
        "-n",
        "shop",
        "--image=busybox:1.37",
        "--profile=restricted",
        "--container=shell",
    )
    expect.admitted(result)
    stored = expect.stored(developer, "pod", name, "shop")
    assert [c["name"] for c in stored["spec"]["ephemeralContainers"]] == ["shell"]
