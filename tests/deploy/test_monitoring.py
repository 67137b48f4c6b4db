"""deploy/monitoring: every alert expression and dashboard query names only metrics the
server exports, with labels those metrics have; the chart ships the same objects."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import yaml

from tests.server import reviews
from webhook.audit.findings import Audit, Finding, LabelDrift, ObjectRef, Result, Violated
from webhook.audit.metrics import AuditMetrics
from webhook.model.review import parse_review
from webhook.server.metrics import Metrics

from .tools import DEPLOY

MONITORING = DEPLOY / "monitoring"
# Functions, aggregations and keywords of PromQL that may appear in our expressions.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "rate", "increase", "irate", "absent",
    "histogram_quantile", "time", "by", "without", "on", "ignoring", "and", "or", "unless",
    "offset", "bool", "label_values", "vector", "clamp_min", "topk",
}
# Labels Prometheus adds to every scraped series (ServiceMonitor target labels).
TARGET_LABELS = {"job", "instance", "pod", "namespace", "service", "endpoint", "container"}


def exported() -> dict[str, set[str]]:
    """Series names a server exposes once it has judged a request and loaded rules, with
    their label names (every labelled metric then has a sample)."""
    metrics = Metrics()
    request = parse_review(reviews.pod_review(reviews.host_network_pod()))
    metrics.observe(webhook="validate", request=request, decision="denied", mode="enforce",
                    seconds=0.001, codes=["host-network"])
    metrics.rules_loaded_now(generation=1, revision="r", at=datetime.now(UTC))
    # The periodic audit's metrics, as a replica that audited once exposes them.
    pod = ObjectRef("v1", "Pod", "shop", "web")
    AuditMetrics(metrics.registry).show(Audit(
        findings=(Finding(pod, Result.WARNED, (Violated("privileged", "m"),)),),
        labels=(LabelDrift(pod, "web", stale=("egressguard.io/allow-x",)),)), at=1.0)
    found: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


def alert_expressions() -> Iterator[tuple[str, str]]:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    for group in rule["spec"]["groups"]:
        for item in group["rules"]:
            yield item["alert"], item["expr"]


def dashboard_queries() -> Iterator[tuple[str, str]]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']}", variable["definition"]


def metric_references(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names matched) for each series selector in a PromQL expression."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # no strings
    text = re.sub(r"\[[^\]]*\]", "", text)  # no range durations
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)  # grouping labels
    text = re.sub(r"\boffset\s+\w+", " ", text)
    text = re.sub(r"\$\w+", " ", text)  # Grafana variables
    # Grafana's label_values(metric, label): the metric must have that label.
    text = re.sub(r"label_values\(\s*(\w+)\s*,\s*(\w+)\s*\)", r'\1{\2=""}', text)
    references = []
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", text):
        name, matchers = match.group(1), match.group(2) or ""
        if name in PROMQL_WORDS or re.fullmatch(r"\d+\w*", name):
            continue
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
        references.append((name, labels))
    return references


EXPRESSIONS = [*alert_expressions(), *dashboard_queries()]


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=[w for w, _ in EXPRESSIONS])
def test_every_query_names_metrics_the_server_exports(where: str, expr: str) -> None:
    known = exported()
    references = metric_references(expr)
    assert references, f"{where}: names no metric"
    for name, labels in references:
        assert name in known, f"{where}: {name} is not exported by the server"
        unknown = labels - known[name] - TARGET_LABELS
        assert not unknown, f"{where}: {name} has no label {sorted(unknown)}"


def test_the_checker_catches_a_metric_the_server_does_not_export() -> None:
    known = exported()
    (reference,) = metric_references('sum(rate(egressguard_requests_total{code="x"}[5m]))')
    assert reference == ("egressguard_requests_total", {"code"})
    assert reference[0] not in known
    assert "egressguard_admission_violations_total" in known
    assert "resource_namespace" in known["egressguard_admission_violations_total"]
    assert "le" in known["egressguard_admission_duration_seconds_bucket"]


def test_the_alerts_cover_what_an_operator_must_hear_about() -> None:
    alerts = dict(alert_expressions())
    wanted = {
        "EgressguardDown": "egressguard_rules_generation",
        "EgressguardFailing": 'decision="error"',
        "EgressguardSlow": "egressguard_admission_duration_seconds_bucket",
        "EgressguardRulesNotLoading": "egressguard_rules_reload_failing",
        "EgressguardCertificateExpiring": "egressguard_certificate_expiry_timestamp_seconds",
        "EgressguardWarnModeViolationsRising": 'mode="warn"',
    }
    for alert, fragment in wanted.items():
        assert fragment in alerts[alert], alert
