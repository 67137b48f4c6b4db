"""The rules repository changes as pull requests merge: a new grant takes effect with no
restart, a revoked one stops new pods but leaves running ones updatable, and a broken
change keeps the last good rules serving (RELIABILITY 26)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl
from .objects import allow_label, pod, unique
from .processes import wait_until
from .webhook_process import WebhookServer

pytestmark = [pytest.mark.e2e]

RELOAD_TIMEOUT = 30.0


def changed(webhook: WebhookServer, change: Path, *, content: str | None) -> None:
    """Write (or, with None, delete) a rules file and wait until the server reloaded."""
    generation = webhook.rules_generation()
    if content is None:
        change.unlink()
    else:
        change.write_text(content)
    wait_until(lambda: webhook.rules_generation() > generation, timeout=RELOAD_TIMEOUT,
               what=f"egressguard to reload its rules after changing {change.name}",
               processes=[webhook.process])


@pytest.fixture
def github_grant(egressguard: EgressguardCluster) -> Iterator[Path]:
    path = egressguard.webhook.rules / "services" / "shop" / "checkout" / "github.com:443.rule"
    yield path
    if path.exists():
        changed(egressguard.webhook, path, content=None)


def test_merged_grant_applies_and_revoked_grant_spares_running_pods(
    egressguard: EgressguardCluster, developer: Kubectl, github_grant: Path
) -> None:
    def checkout_pod(name: str) -> dict:
        return pod(name, "shop", service_account="checkout", egress="github.com:443")

    before = unique("before-grant")
    expect.denied(developer.apply(checkout_pod(before)), "grant-missing")

    changed(egressguard.webhook, github_grant, content="reason: release notes (SEC-1)\n")
    granted = unique("granted")
    expect.admitted(developer.apply(checkout_pod(granted)))
    labels = expect.labels(expect.stored(developer, "pod", granted, "shop"))
    assert labels[allow_label("github")] == "true"

    changed(egressguard.webhook, github_grant, content=None)
    expect.denied(developer.apply(checkout_pod(unique("after-revoke"))), "grant-missing")
    # The running pod keeps its label until it is recreated: it can still be updated,
    # with a warning, and deleted.
    update = developer.run("label", "pod", granted, "-n", "shop", "rollout=2")
    expect.admitted(update)
    assert any("managed-label" in w for w in expect.warnings(update)), update
    expect.admitted(developer.run("delete", "pod", granted, "-n", "shop", "--wait=false"))


def test_broken_rules_change_keeps_the_last_good_rules(
    egressguard: EgressguardCluster, developer: Kubectl
) -> None:
    webhook = egressguard.webhook
    broken = webhook.rules / "destinations" / "broken.yaml"
    generation = webhook.rules_generation()
    broken.write_text("apiVersion: egressguard.io/v1alpha1\nkind: Destination\nspec: [\n")
    try:
        wait_until(webhook.rules_failing,
                   timeout=RELOAD_TIMEOUT, what="egressguard to report the broken rules",
                   processes=[webhook.process])
        assert webhook.rules_generation() == generation
        assert webhook.ready()
        name = unique("still-served")
        expect.admitted(developer.apply(
            pod(name, "shop", service_account="checkout", egress="api.stripe.com:443")
        ))
        assert allow_label("stripe") in expect.labels(
            expect.stored(developer, "pod", name, "shop")
        )
    finally:
        broken.unlink()
    wait_until(lambda: not webhook.rules_failing(), timeout=RELOAD_TIMEOUT,
               what="egressguard to load the repaired rules", processes=[webhook.process])
