"""The audit on an interval, in the server (``serve --audit-interval``).

One replica runs it, elected through its own Lease (``egressguard-audit``), in its own
thread (the Kubernetes client blocks). Each run reads the cluster, judges it with the
served rules, sets the metrics, writes the reports and Events; a run that fails is logged
and counted, and the next one comes after the interval all the same. Replicas that do not
lead export no violations (the gauge is cleared), so a sum over replicas is the audit's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from prometheus_client import CollectorRegistry

from webhook.audit.cluster_writes import EventRecorder, ReportWriter
from webhook.audit.events import Throttle, owner_events
from webhook.audit.findings import Audit
from webhook.audit.inventory import Inventory
from webhook.audit.judging import audit
from webhook.audit.metrics import AuditMetrics
from webhook.audit.reports import reports
from webhook.controller.cluster import CountingApiClient
from webhook.controller.election import run_election
from webhook.controller.options import AuditOptions
from webhook.model.rules import Policy

log = logging.getLogger("egressguard.audit")


class Auditor:
    """``start`` returns at once; ``stop`` ends the election and the loop."""

    def __init__(self, api: CountingApiClient, options: AuditOptions,
                 policy: Callable[[], Policy | None], clock: Callable[[], datetime],
                 registry: CollectorRegistry) -> None:
        self.options = options
        self.inventory = Inventory(api)
        self.reports = ReportWriter(api)
        self.events = EventRecorder(api, instance=options.lease.identity)
        self.throttle = Throttle()
        self.metrics = AuditMetrics(registry)
        self._policy, self._clock = policy, clock
        self._stop = threading.Event()
        self._leading = threading.Event()
        self.last: Audit | None = None

    def start(self) -> None:
        threading.Thread(target=run_election, name="audit-election", daemon=True,
                         args=(self.options.lease,),
                         kwargs={"on_lead": self._lead, "on_follow": self._follow,
                                 "stop": self._stop}).start()

    def stop(self) -> None:
        self._stop.set()

    def _follow(self) -> None:
        if self._leading.is_set():
            log.warning("lost the audit lease; another replica audits now")
        self._leading.clear()
        self.metrics.leader.set(0)
        self.metrics.violations.clear()

    def _lead(self) -> None:
        log.info("leading the periodic audit (every %.0f s)", self.options.interval_seconds)
        self._leading.set()
        self.metrics.leader.set(1)
        while self._leading.is_set() and not self._stop.is_set():
            policy = self._policy()
            if policy is None:
                self._stop.wait(1.0)
                continue
            self.run_once(policy)
            self._stop.wait(self.options.interval_seconds)

    def run_once(self, policy: Policy) -> Audit | None:
        """One audit: read, judge, show, write. None when it failed (logged, counted)."""
        started = time.perf_counter()
        try:
            now = self._clock()
            result = audit(self.inventory.read(policy), policy, now=now)
            if not self._leading.is_set():
                return None  # lost the Lease while reading: the new leader writes
            self.metrics.show(result, at=time.time())
            applied, pruned = self.reports.write(reports(result))
            said = self.throttle.due(owner_events(result.findings), now)
            for event in said:
                self.events.record(event, now)
        except Exception:
            log.exception("the periodic audit failed; trying again in %.0f s",
                          self.options.interval_seconds)
            self.metrics.runs.labels(result="error").inc()
            return None
        seconds = time.perf_counter() - started
        self.metrics.seconds.observe(seconds)
        self.metrics.runs.labels(result="ok").inc()
        self.last = result
        if result.unreadable:
            log.warning("the audit is incomplete: not allowed to list %s; grant list on "
                        "them", ", ".join(result.unreadable))
        log.info("audited %d objects in %.2f s: %d findings, %d pods with label drift, "
                 "%d unfenced namespaces; %d reports applied, %d pruned, %d events",
                 result.objects, seconds, len(result.findings), len(result.labels),
                 len(result.unfenced), applied, pruned, len(said))
        return result
