"""Policy reports and the table, from the audit of cluster.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.audit.test_judging import documents
from tests.example_policy import NOW, example_policy
from webhook.audit.findings import Audit
from webhook.audit.inventory import snapshot_of
from webhook.audit.judging import audit
from webhook.audit.reports import reports
from webhook.audit.table import table

KYVERNO_REPORT_CRD = ("wgpolicyk8s.io", "v1alpha2")


@pytest.fixture(scope="module")
def result() -> Audit:
    return audit(snapshot_of(documents(), []), example_policy(), now=NOW)


def test_one_report_per_namespace_with_findings_and_none_for_the_others(result: Audit) -> None:
    written = reports(result)
    assert [(r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"])
            for r in written] == [("PolicyReport", "billing", "egressguard"),
                                  ("PolicyReport", "shop", "egressguard")]
    assert all(r["apiVersion"] == "/".join(KYVERNO_REPORT_CRD) for r in written)
    assert all(r["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "egressguard"}
               for r in written)


def test_results_name_the_object_the_code_and_what_the_webhook_would_do(result: Audit) -> None:
    shop = next(r for r in reports(result) if r["metadata"].get("namespace") == "shop")
    rows = sorted((r["resources"][0]["kind"], r["resources"][0]["name"], r["rule"], r["result"])
                  for r in shop["results"])
    assert rows == [
        ("Deployment", "web", "privileged", "warn"),
        ("Pod", "checkout-0", "entitlement-label-missing", "warn"),
        ("Pod", "notifier-1", "managed-label", "fail"),
        ("Pod", "web-5d9f-x7k2p", "privileged", "warn"),
        ("ReplicaSet", "web-5d9f", "privileged", "warn"),
    ]
    assert shop["summary"] == {"pass": 0, "fail": 1, "warn": 4, "error": 0, "skip": 0}
    assert all(r["policy"] == "egressguard" and r["source"] == "egressguard" and r["message"]
               for r in shop["results"])


def test_an_unfenced_namespace_fails_the_fence_rule_on_its_namespace(result: Audit) -> None:
    billing = next(r for r in reports(result) if r["metadata"].get("namespace") == "billing")
    fence = [r for r in billing["results"] if r["rule"] == "fence-missing"]
    assert [(f["result"], f["resources"]) for f in fence] == [
        ("fail", [{"apiVersion": "v1", "kind": "Namespace", "name": "billing"}])]


def test_cluster_scoped_findings_go_to_the_cluster_report() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "team", "labels": {"istio-injection": "disabled"}}}
    written = reports(audit(snapshot_of([namespace], []), example_policy(), now=NOW))
    cluster = written[0]
    assert (cluster["kind"], "namespace" in cluster["metadata"]) == ("ClusterPolicyReport", False)
    assert [(r["rule"], r["resources"][0]["name"]) for r in cluster["results"]] == [
        ("mesh-opt-out", "team")]


def test_the_reports_match_the_kyverno_crd_schema(result: Audit) -> None:
    """Only fields the published CRD declares, with its enums (checked against the CRD in
    the e2e tests; here against the fields it lists)."""
    allowed_result = {"category", "message", "policy", "properties", "resourceSelector",
                      "resources", "result", "rule", "scored", "severity", "source",
                      "timestamp"}
    for report in reports(result):
        assert set(report) <= {"apiVersion", "kind", "metadata", "results", "scope",
                               "scopeSelector", "summary"}
        for entry in report["results"]:
            assert set(entry) <= allowed_result
            assert entry["result"] in {"pass", "fail", "warn", "error", "skip"}
            assert entry["severity"] in {"critical", "high", "low", "medium", "info"}


def test_the_table_shows_every_section(result: Audit) -> None:
    text = table(result)
    assert "Objects that would be refused or warned about now (5):" in text
    assert "notifier-1" in text and "egressguard.io/allow-slack" in text
    assert "Judged namespaces without the egressguard-fence NetworkPolicy (1):\n  billing" in text
    shop = next(line.split() for line in text.splitlines() if line.startswith("  shop ")
                and " warn " in line)
    assert shop[:5] == ["shop", "warn", "not", "ready:", "4"]
    assert "[host-network]" in text


def test_reports_print_as_yaml_documents(result: Audit, tmp_path: Path) -> None:
    from webhook.render.yamltext import yaml_text
    text = "".join(f"---\n{yaml_text(r)}" for r in reports(result))
    assert [d["kind"] for d in yaml.safe_load_all(text)] == ["PolicyReport", "PolicyReport"]


def test_a_report_keeps_at_most_max_results_and_counts_them_all() -> None:
    from webhook.audit.reports import MAX_RESULTS, report
    many = [{"result": "warn", "rule": "privileged"}] * (MAX_RESULTS + 5)
    bounded = report("shop", many)
    assert len(bounded["results"]) == MAX_RESULTS
    assert bounded["summary"]["warn"] == MAX_RESULTS + 5
