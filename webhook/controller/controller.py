"""The reconcile loop: one leader among the replicas applies what the rules produce.

Leadership comes from ``kubernetes.leaderelection`` on a ``coordination.k8s.io`` Lease.
While leading, one worker thread reconciles whenever something asks: the served rules
changed (a new generation), a namespace appeared, a managed object changed under us, the
next grant or exception lapses, or the resync interval passed. A reconcile lists our objects
and applies every desired object that is not known to be in step (server-side apply:
unchanged objects stay unchanged), counts as drift any object we had applied with the same
content that the apply changed (someone edited or deleted it; the apply put it back), and
deletes our objects the rules no longer produce. What is in step is known from memory for
objects this leader applied, and from the object itself (``stamp``) for the others, so that
a new leader's first reconcile of an unchanged cluster sends no apply either. Every rules
change makes a new revision, which every rendered object names: an object the change leaves
as it was otherwise is judged with the revision it carries, so only what a rules change
changes is applied again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from webhook.controller.cluster import Cluster
from webhook.controller.desired import (
    Document,
    ObjectKey,
    desired_objects,
    judged_namespaces,
    key_of,
    next_expiry,
    stale,
)
from webhook.controller.election import run_election
from webhook.controller.options import ControllerOptions
from webhook.controller.stamp import difference, digest, live_digest, stamped, with_revision
from webhook.model.rules import Policy
from webhook.render import RenderMode, RenderOptions
from webhook.render.objects import REVISION

log = logging.getLogger("egressguard.controller")

WATCH_SECONDS = 300
RETRY_SECONDS = 2.0


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.leader = Gauge("egressguard_controller_leader",
                            "1 while this replica leads the controller", registry=registry)
        self.reconciles = Counter("egressguard_controller_reconciles",
                                  "Reconciles, by result", ["result"], registry=registry)
        self.seconds = Histogram("egressguard_controller_reconcile_seconds",
                                 "Time one reconcile took", registry=registry)
        self.drift = Counter("egressguard_controller_drift",
                             "Managed objects found changed or deleted by someone else and "
                             "put back", ["kind"], registry=registry)
        self.pruned = Counter("egressguard_controller_pruned",
                              "Managed objects deleted because the rules no longer produce "
                              "them", ["kind"], registry=registry)


@dataclass(slots=True)
class Outcome:
    applied: int = 0
    unchanged: int = 0  # applied before, not changed since: no request
    drifted: list[ObjectKey] = field(default_factory=list)
    pruned: list[ObjectKey] = field(default_factory=list)
    # Objects for namespaces that do not exist (a gateway's namespace not created yet).
    waiting: list[ObjectKey] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0


class Reconciler:
    """One reconcile against a Cluster; remembers what it applied, to recognise drift."""

    def __init__(self, cluster: Cluster, mode: RenderMode, options: RenderOptions) -> None:
        self.cluster, self.mode, self.options = cluster, mode, options
        self._applied: dict[ObjectKey, tuple[Document, str]] = {}

    def reconcile(self, policy: Policy, now: datetime) -> Outcome:
        """Lists our objects of every kind first. A desired object is left alone (no
        request) when this leader applied the same content and its resourceVersion has not
        moved since, or else when the object shows it is in step (``stamp.difference``: a
        version moved by a status report, or an object an earlier leader applied); every
        other desired object is applied. What the rules no longer produce is deleted."""
        started, requests = time.perf_counter(), self.cluster.requests
        names, _ = self.cluster.namespaces()
        options = self._at(now)
        desired = desired_objects(policy, self.mode, options, judged_namespaces(policy, names))
        listed = [obj for kind in self.cluster.served_kinds()
                  for obj in self.cluster.managed(kind)]
        live = {key_of(obj): obj for obj in listed}
        outcome = Outcome()
        existing = set(names)
        revision_key = f"{policy.config.label_prefix}/{REVISION}"
        for key, document in desired.items():
            if key.namespace and key.namespace not in existing:
                outcome.waiting.append(key)
                continue
            found = live.get(key)
            version = _version(found)
            before = self._applied.get(key)
            # A rules change that leaves this object as it was changes only its revision
            # annotation: judged as the document of the revision it carries, it stays.
            earlier = found if found is not None else before[0] if before is not None else None
            kept = with_revision(document, revision_key, earlier)
            remembered = before is not None and before[0] == kept
            value = digest(kept)
            if remembered and before is not None and version == before[1]:
                outcome.unchanged += 1
                continue
            why = None
            if found is not None:
                why = difference(found, kept, value)
                if why is None:  # as applied (by an earlier leader, or by this one before
                    # another controller reported status), untouched since
                    self._applied[key] = (kept, version)
                    outcome.unchanged += 1
                    continue
            # Applied with this content before (by us or an earlier leader): a change the
            # apply undoes was someone else's.
            ours = remembered or (found is not None and live_digest(found) == value)
            applied = self.cluster.apply(key, stamped(document, digest(document)))
            if ours and applied != version:
                outcome.drifted.append(key)
                log.warning("%s was changed or deleted by someone else%s; put it back", key,
                            f" ({why})" if why else "")
            self._applied[key] = (document, applied)
            outcome.applied += 1
        for namespace in sorted({key.namespace for key in outcome.waiting}):
            log.warning("namespace %s does not exist: the rules put objects there (a "
                        "gateway's namespace); create it and they follow", namespace)
        for key in stale(listed, desired):
            self.cluster.delete(key)
            self._applied.pop(key, None)
            outcome.pruned.append(key)
            log.info("deleted %s: the rules no longer produce it", key)
        outcome.requests = self.cluster.requests - requests
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _at(self, now: datetime) -> RenderOptions:
        return replace(self.options, now=now)


def _version(found: dict[str, Any] | None) -> str:
    if found is None:
        return ""
    return str((found.get("metadata") or {}).get("resourceVersion", ""))


class Controller:
    """Leader election plus the worker and watch threads. ``start`` returns at once."""

    def __init__(self, cluster: Cluster, options: ControllerOptions,
                 policy: Callable[[], tuple[Policy, int] | None],
                 clock: Callable[[], datetime], registry: CollectorRegistry) -> None:
        self.cluster, self.settings = cluster, options
        self._policy, self._clock = policy, clock
        self.metrics = ControllerMetrics(registry)
        self.reconciler = Reconciler(cluster, options.mode, options.options)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._leading = threading.Event()
        self.last: Outcome | None = None

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def start(self) -> None:
        threading.Thread(target=self._elect, name="controller-election", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def trigger(self, why: str) -> None:
        log.debug("reconcile asked: %s", why)
        self._wake.set()

    # Leadership -------------------------------------------------------------------------

    def _elect(self) -> None:
        run_election(self.settings.lease, on_lead=self._lead, on_follow=self._follow,
                     stop=self._stop)

    def _follow(self) -> None:
        if self._leading.is_set():
            log.warning("lost the controller lease %s/%s; another replica reconciles now",
                        self.settings.lease.namespace, self.settings.lease.name)
        self._leading.clear()
        self.metrics.leader.set(0)
        self._wake.set()

    def _lead(self) -> None:
        lease = self.settings.lease
        log.info("leading the controller (lease %s/%s, identity %s)",
                 lease.namespace, lease.name, lease.identity)
        self._leading.set()
        self.metrics.leader.set(1)
        threading.Thread(target=self._watch_namespaces, name="controller-namespaces",
                         daemon=True).start()
        for kind in self.cluster.served_kinds():
            threading.Thread(target=self._watch_kind, args=(kind,), daemon=True,
                             name=f"controller-watch-{kind.plural}").start()
        self._work()

    # The worker -------------------------------------------------------------------------

    def _work(self) -> None:
        generation = -1
        next_run = 0.0
        while self._leading.is_set() and not self._stop.is_set():
            snapshot = self._policy()
            now = self._clock()
            if snapshot is not None:
                policy, current = snapshot
                due = time.monotonic() >= next_run or current != generation
                if due or self._wake.is_set():
                    self._wake.clear()
                    generation = current
                    if self._run(policy, now):
                        next_run = time.monotonic() + self.settings.resync_seconds
                    else:
                        next_run = time.monotonic() + RETRY_SECONDS
                expiry = next_expiry(policy, now)
                if expiry is not None:
                    until = (expiry - now).total_seconds()
                    next_run = min(next_run, time.monotonic() + max(until, 0.0))
            self._wake.wait(max(0.05, min(1.0, next_run - time.monotonic())))

    def _run(self, policy: Policy, now: datetime) -> bool:
        try:
            with self.metrics.seconds.time():
                outcome = self.reconciler.reconcile(policy, now)
        except Exception:
            log.exception("reconcile failed; trying again in %.0f s", RETRY_SECONDS)
            self.metrics.reconciles.labels(result="error").inc()
            return False
        self.last = outcome
        self.metrics.reconciles.labels(result="ok").inc()
        for key in outcome.drifted:
            self.metrics.drift.labels(kind=key.kind).inc()
        for key in outcome.pruned:
            self.metrics.pruned.labels(kind=key.kind).inc()
        log.info("reconciled rules revision %s: %d objects applied, %d unchanged, %d put back, "
                 "%d pruned, %d API requests in %.2f s", policy.revision or "(none)",
                 outcome.applied, outcome.unchanged,
                 len(outcome.drifted), len(outcome.pruned), outcome.requests, outcome.seconds)
        return True

    # Watches ----------------------------------------------------------------------------

    def _watch_namespaces(self) -> None:
        self._watching(lambda: self.cluster.watch_namespaces(self._stop, WATCH_SECONDS),
                       lambda event: event["type"] == "ADDED", "namespace")

    def _watch_kind(self, kind: Any) -> None:
        self._watching(lambda: self.cluster.watch_managed(kind, self._stop, WATCH_SECONDS),
                       lambda event: event["type"] in ("MODIFIED", "DELETED"), kind.kind)

    def _watching(self, stream: Callable[[], Any], wanted: Callable[[dict[str, Any]], bool],
                  what: str) -> None:
        while self._leading.is_set() and not self._stop.is_set():
            try:
                for event in stream():
                    if not self._leading.is_set():
                        return
                    if wanted(event):
                        self.trigger(f"{what} {event['type'].lower()}")
            except Exception as error:
                log.warning("watching %s failed (%s); watching again", what, error)
                self._stop.wait(RETRY_SECONDS)
