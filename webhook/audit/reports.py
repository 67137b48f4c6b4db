"""Policy reports: the audit as the report objects Kyverno writes.

``wgpolicyk8s.io/v1alpha2`` PolicyReport (one per namespace with findings, named
``egressguard``) and ClusterPolicyReport (one, for cluster-scoped objects): Kyverno writes
these by default (its ``openreports.io`` Reports are opt-in and alpha), and Policy Reporter
and the other consumers read them. One result per object and code, with the webhook's own
message; ``rule`` is the violation code, or one of the audit's own rules below. No
timestamps, so an unchanged audit applies as no change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from webhook.audit.findings import Audit, ObjectRef, Result
from webhook.render.objects import MANAGED_BY, MANAGED_BY_KEY

REPORT_API_VERSION = "wgpolicyk8s.io/v1alpha2"
NAMESPACED_KIND = "PolicyReport"
CLUSTER_KIND = "ClusterPolicyReport"
REPORT_NAME = "egressguard"
POLICY = "egressguard"
SOURCE = "egressguard"
CATEGORY = "Egress"
# The audit's own rules, besides the violation codes.
FENCE_MISSING = "fence-missing"
LABEL_MISSING = "entitlement-label-missing"
# A report is one object of at most ~1.5 MiB in etcd: past this many results (each under
# ~1 KiB), the rest are counted in the summary only.
MAX_RESULTS = 1000

Document = dict[str, Any]


def _resource(ref: ObjectRef) -> dict[str, str]:
    found = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        found["namespace"] = ref.namespace
    if ref.uid:
        found["uid"] = ref.uid
    return found


def _result(ref: ObjectRef, rule: str, result: str, message: str) -> Document:
    return {
        "policy": POLICY, "rule": rule, "result": result,
        "severity": "high" if result == "fail" else "medium",
        "category": CATEGORY, "source": SOURCE, "scored": True,
        "message": message, "resources": [_resource(ref)],
    }


def results_by_namespace(audit: Audit) -> dict[str, list[Document]]:
    """Results per namespace ("" for cluster-scoped objects), in the audit's order."""
    found: dict[str, list[Document]] = {}
    for finding in audit.findings:
        outcome = "fail" if finding.result is Result.REFUSED else "warn"
        for violated in finding.violations:
            found.setdefault(finding.object.namespace, []).append(
                _result(finding.object, violated.code, outcome, violated.message))
    for drift in audit.labels:
        if drift.missing:
            message = (f"entitled to {', '.join(drift.missing)} but created before; "
                       "recreate the pod to get them")
            found.setdefault(drift.pod.namespace, []).append(
                _result(drift.pod, LABEL_MISSING, "warn", message))
    for namespace in audit.unfenced:
        ref = ObjectRef("v1", "Namespace", "", namespace)
        message = ("no egressguard-fence NetworkPolicy: pods here reach the internet around "
                   "the gateways if capture is bypassed; run serve --reconcile or apply "
                   "render's fence")
        found.setdefault(namespace, []).append(_result(ref, FENCE_MISSING, "fail", message))
    return found


def _summary(results: Iterable[Document]) -> dict[str, int]:
    summary = dict.fromkeys(("pass", "fail", "warn", "error", "skip"), 0)
    for result in results:
        summary[result["result"]] += 1
    return summary


def report(namespace: str, results: list[Document]) -> Document:
    """The report of one namespace ("": the cluster report)."""
    summary = _summary(results)
    kept = results[:MAX_RESULTS]
    metadata: Document = {"name": REPORT_NAME, "labels": {MANAGED_BY_KEY: MANAGED_BY}}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": REPORT_API_VERSION,
        "kind": NAMESPACED_KIND if namespace else CLUSTER_KIND,
        "metadata": metadata,
        "summary": summary,
        "results": kept,
    }


def reports(audit: Audit) -> list[Document]:
    """A report for each namespace with results (the cluster report first, when any)."""
    found = results_by_namespace(audit)
    return [report(namespace, found[namespace]) for namespace in sorted(found)]
