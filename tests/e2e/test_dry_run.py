"""``kubectl apply --dry-run=server`` gets the same answer as a real apply, changes
nothing, and is still in the audit log (RELIABILITY 3 and 28)."""

from __future__ import annotations

import pytest

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl
from .objects import allow_label, pod, unique
from .processes import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("egressguard")]


def denial_text(stderr: str) -> str:
    """What egressguard said, without kubectl's framing of the failed request."""
    return stderr.split(expect.DENIED, 1)[1].strip()


def test_dry_run_refuses_exactly_as_a_real_apply(developer: Kubectl) -> None:
    name = unique("dry-refused")
    manifest = pod(name, "shop", service_account="checkout", egress="github.com:443")
    dry = developer.apply(manifest, "--dry-run=server")
    real = developer.apply(manifest)
    expect.denied(dry, "grant-missing", "services/shop/checkout/github.com:443.rule")
    expect.denied(real)
    assert denial_text(dry.stderr) == denial_text(real.stderr)
    expect.absent(developer, "pod", name, "shop")


def test_dry_run_admits_with_labels_and_stores_nothing(
    developer: Kubectl, egressguard: EgressguardCluster
) -> None:
    name = unique("dry-admitted")
    manifest = pod(name, "shop", service_account="checkout", egress="api.stripe.com:443")
    result = developer.apply(manifest, "--dry-run=server", "-o", "json")
    expect.admitted(result)
    assert result.json()["metadata"]["labels"][allow_label("stripe")] == "true"
    expect.absent(developer, "pod", name, "shop")

    def audited() -> bool:
        return any(
            r.get("name") == name and r.get("dryRun") is True
            for r in egressguard.webhook.audit_records()
        )

    wait_until(audited, timeout=10, what=f"a dryRun audit record for pod {name}")
    records = [r for r in egressguard.webhook.audit_records() if r.get("name") == name]
    assert records and all(r["dryRun"] is True for r in records)
    assert all(r["allowed"] is True for r in records)
    assert {r["user"] for r in records} == {developer.identity}


def test_real_apply_after_dry_run_is_audited_without_dry_run(
    developer: Kubectl, egressguard: EgressguardCluster
) -> None:
    name = unique("wet")
    expect.admitted(developer.apply(pod(name, "ci", service_account="builder")))
    wait_until(
        lambda: any(r.get("name") == name for r in egressguard.webhook.audit_records()),
        timeout=10,
        what=f"an audit record for pod {name}",
    )
    records = [r for r in egressguard.webhook.audit_records() if r.get("name") == name]
    assert all(r["dryRun"] is False for r in records)
    assert {r["namespace"] for r in records} == {"ci"}
