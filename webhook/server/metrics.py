"""Prometheus metrics, one registry per app so that tests can run several servers.

Label values come from small closed sets (the kinds the engine judges, the four
operations, the violation codes), never from the request as sent: a hostile client must
not be able to grow the label space. Namespaces are the one open set: a name is used only
when it is a valid namespace name, and only the first ``MAX_NAMESPACES`` distinct ones get
their own series (the rest count as ``other``). The label is ``resource_namespace``, not
``namespace``, which Prometheus sets to the namespace of the scraped pod.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from webhook.engine.kinds import judged_kinds
from webhook.model.decision import Code
from webhook.model.review import OPERATIONS, AdmissionRequest

# Sub-millisecond buckets: a decision usually takes a few hundred microseconds.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
)
_KINDS = frozenset(kind for _, kind in judged_kinds())
_CODES = frozenset(code.value for code in Code)
CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_NAMESPACES = 2000
_NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def kind_label(request: AdmissionRequest | None) -> str:
    if request is None:
        return ""
    return request.kind.kind if request.kind.kind in _KINDS else "other"


def operation_label(request: AdmissionRequest | None) -> str:
    if request is None:
        return ""
    return request.operation if request.operation in OPERATIONS else "other"


def code_labels(codes: Iterable[str]) -> list[str]:
    return sorted({code if code in _CODES else "other" for code in codes})


class Metrics:
    """The collectors egressguard exposes on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # The process (CPU, memory, file descriptors) and Python runtime collectors.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._namespaces: set[str] = set()
        # The labelled series each answer counts in, by their label values: prometheus's own
        # lookup validates and locks on every call. Bounded as the label sets are.
        self._children: dict[tuple[str, ...], Any] = {}
        self.decisions = Counter(
            "egressguard_admission_decisions",
            "Admission decisions (validating webhook) by the namespace of the object, "
            "decision (allowed, denied, error) and mode.",
            ["resource_namespace", "decision", "mode"],
            registry=self.registry,
        )
        self.violations = Counter(
            "egressguard_admission_violations",
            "Violation codes found, by the namespace of the object and mode; decision says "
            "whether the request was refused (denied) or admitted anyway (allowed: warn mode).",
            ["code", "resource_namespace", "mode", "decision"],
            registry=self.registry,
        )
        self.rules_reload_failing = Gauge(
            "egressguard_rules_reload_failing",
            "1 when the rules on disk do not load (older rules, or none, are being served).",
            registry=self.registry,
        )
        self.requests = Counter(
            "egressguard_admission_requests",
            "Admission requests by webhook, kind, operation, decision and namespace mode.",
            ["webhook", "kind", "operation", "decision", "mode"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "egressguard_admission_duration_seconds",
            "Time from request to answer, body read included.",
            ["webhook"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rules_generation = Gauge(
            "egressguard_rules_generation",
            "How many times rules were loaded since start (1 after the first load).",
            registry=self.registry,
        )
        self.rules_info = Gauge(
            "egressguard_rules_info",
            "The revision (hash of the rules files) being served.",
            ["revision"],
            registry=self.registry,
        )
        self.rules_loaded = Gauge(
            "egressguard_rules_loaded_timestamp_seconds",
            "When the rules being served were loaded.",
            registry=self.registry,
        )
        self.reload_errors = Counter(
            "egressguard_reload_errors",
            "Reloads that failed and kept the previous rules or certificate.",
            ["what"],
            registry=self.registry,
        )
        self.certificate_expiry = Gauge(
            "egressguard_certificate_expiry_timestamp_seconds",
            "When the serving certificate expires.",
            registry=self.registry,
        )
        self.namespace_cache_synced = Gauge(
            "egressguard_namespace_cache_synced",
            "1 when namespace labels are known (watch synced, or no cluster used).",
            registry=self.registry,
        )
        self.rules_refused = Counter(
            "egressguard_rules_refused",
            "Rules changes that loaded but failed the sanity floor (no gateways, no "
            "destinations, a large drop); the previous rules kept serving.",
            ["reason"],
            registry=self.registry,
        )
        self.overloaded = Counter(
            "egressguard_overload_refusals",
            "Reviews refused unjudged because too many requests or bytes were in flight.",
            ["reason"],
            registry=self.registry,
        )
        self.decision_timeouts = Counter(
            "egressguard_decision_timeouts",
            "Reviews refused because their decision did not come within its deadline.",
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "egressguard_audit_failures",
            "Audit lines that could not be written (the replica reports not ready).",
            registry=self.registry,
        )
        self.connections_evicted = Counter(
            "egressguard_connections_evicted",
            "Idle connections closed to keep open connections within their bound.",
            registry=self.registry,
        )
        self.open_connections = Gauge(
            "egressguard_open_connections",
            "Established client connections.",
            registry=self.registry,
        )
        for what in ("rules", "certificate"):
            self.reload_errors.labels(what=what)
        for reason in ("no-gateways", "no-destinations", "large-drop"):
            self.rules_refused.labels(reason=reason)
        for reason in ("requests", "bytes"):
            self.overloaded.labels(reason=reason)

    def namespace_label(self, namespace: str) -> str:
        """``namespace`` if it is a namespace name and the series budget allows it."""
        if namespace in self._namespaces:
            return namespace
        if not _NAMESPACE_NAME.fullmatch(namespace):
            return "" if not namespace else "other"
        if len(self._namespaces) >= MAX_NAMESPACES:
            return "other"
        self._namespaces.add(namespace)
        return namespace

    def _child(self, family: str, metric: MetricWrapperBase, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once per distinct label values."""
        key = (family, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def observe(self, *, webhook: str, request: AdmissionRequest | None, decision: str,
                mode: str, seconds: float, codes: Iterable[str] = ()) -> None:
        self._child("requests", self.requests, webhook, kind_label(request),
                    operation_label(request), decision, mode).inc()
        self._child("latency", self.latency, webhook).observe(seconds)
        if webhook != "validate" or request is None:
            return  # a pod create is judged by both webhooks: count its verdict once
        namespace = self.namespace_label(request.namespace)
        self._child("decisions", self.decisions, namespace, decision, mode).inc()
        for code in code_labels(codes):
            self._child("violations", self.violations, code, namespace, mode, decision).inc()

    def rules_loaded_now(self, *, generation: int, revision: str, at: datetime) -> None:
        self.rules_generation.set(generation)
        self.rules_info.clear()
        self.rules_info.labels(revision=revision or "unknown").set(1)
        self.rules_loaded.set(at.timestamp())

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
