"""egressguard_violations follows the latest audit, series of fixed problems included."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from tests.audit.test_judging import documents
from tests.example_policy import NOW, example_policy
from webhook.audit.findings import Audit
from webhook.audit.inventory import snapshot_of
from webhook.audit.judging import audit
from webhook.audit.metrics import AuditMetrics


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, ...], float]:
    return {tuple(sorted(s.labels.values())): s.value
            for family in registry.collect() for s in family.samples if s.name == name}


def test_the_gauge_is_set_from_the_latest_audit_and_forgets_what_was_fixed() -> None:
    registry = CollectorRegistry()
    metrics = AuditMetrics(registry)
    metrics.show(audit(snapshot_of(documents(), []), example_policy(), now=NOW), at=1.0)
    assert samples(registry, "egressguard_violations") == {
        ("billing", "host-network"): 1.0, ("managed-label", "shop"): 1.0,
        ("privileged", "shop"): 3.0}
    assert samples(registry, "egressguard_audit_stale_label_pods") == {("shop",): 1.0}
    assert samples(registry, "egressguard_audit_unfenced_namespaces") == {(): 1.0}
    metrics.show(Audit(), at=2.0)
    assert samples(registry, "egressguard_violations") == {}
    assert samples(registry, "egressguard_audit_last_success_timestamp_seconds") == {(): 2.0}
