"""The periodic audit's metrics, in the server's registry.

``egressguard_violations`` is a gauge set from the latest audit: objects listed with each
code, per namespace (``resource_namespace``, "" for cluster-scoped objects; the label is
not ``namespace``, which Prometheus sets to the namespace of the scraped pod, as for the
admission metrics). Series of codes and namespaces no longer found are removed.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from webhook.audit.findings import Audit


class AuditMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.violations = Gauge(
            "egressguard_violations",
            "Objects in the cluster the latest audit lists with each violation code, by "
            "their namespace (refused now, or warned about in warn mode).",
            ["code", "resource_namespace"], registry=registry)
        self.stale_labels = Gauge(
            "egressguard_audit_stale_label_pods",
            "Pods keeping entitlement labels they are no longer entitled to, by namespace.",
            ["resource_namespace"], registry=registry)
        self.unfenced = Gauge(
            "egressguard_audit_unfenced_namespaces",
            "Judged namespaces without the egressguard-fence NetworkPolicy.",
            registry=registry)
        self.leader = Gauge("egressguard_audit_leader",
                            "1 while this replica runs the periodic audit", registry=registry)
        self.runs = Counter("egressguard_audit_runs", "Periodic audits, by result",
                            ["result"], registry=registry)
        self.seconds = Histogram("egressguard_audit_seconds",
                                 "Time one periodic audit took (reading included)",
                                 buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
                                 registry=registry)
        self.last_success = Gauge("egressguard_audit_last_success_timestamp_seconds",
                                  "When the latest periodic audit succeeded",
                                  registry=registry)
        for result in ("ok", "error"):
            self.runs.labels(result=result)

    def show(self, audit: Audit, *, at: float) -> None:
        _replace(self.violations, {(code, namespace): count for (code, namespace), count
                                   in audit.violation_counts().items()})
        stale: dict[tuple[str, ...], int] = {}
        for drift in audit.labels:
            if drift.stale:
                stale[(drift.pod.namespace,)] = stale.get((drift.pod.namespace,), 0) + 1
        _replace(self.stale_labels, stale)
        self.unfenced.set(len(audit.unfenced))
        self.last_success.set(at)


def _replace(gauge: Gauge, values: Mapping[tuple[str, ...], int]) -> None:
    """Sets every series of ``gauge`` at once: ones not in ``values`` are removed."""
    gauge.clear()
    for labels, value in values.items():
        gauge.labels(*labels).set(value)
