"""The audit log: one JSON line per admission decision on stdout (SPEC §6).

Every decision is recorded, dry-run requests included (they carry ``dryRun: true``), and
so are requests egressguard failed to judge (``allowed: false`` with an ``error``): an
auditor must be able to account for every answer the API server received. Operational
logs go to stderr, so stdout stays machine-readable.

Lines are written by one thread, never by the event loop: a reader of stdout that stalls
(or a full disk) must not freeze the server, health checks included. The thread wakes
for a line, lingers :data:`LINGER_SECONDS` and writes every line queued by then, so that
it competes for the interpreter lock once per batch, not once per answer. Lines wait in a
bounded queue; when it is full, or a write fails, or a line has waited longer than
:data:`STALL_SECONDS`, the log is *failing*: the lines are counted as lost and ``/readyz``
says not ready, so the Service sends reviews to replicas that can record them, until
writing works again.

Lines of pods and pod templates also say who asked for what: ``serviceAccount`` and
``requested`` (the valid ``host:port`` entries of the request annotation, normalised as the
engine reads them), so that what warn mode admitted can be turned into rules by
``egressguard learn``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import threading
import time as clock
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import orjson

from webhook.engine.entitlement import parse_requests
from webhook.engine.podspec import PodView, pod_view, template_view
from webhook.model.decision import Decision
from webhook.model.review import AdmissionRequest

# The kinds whose pod template the engine judges (engine.kinds), by (group, kind).
TEMPLATE_KINDS = frozenset({
    ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"),
    ("apps", "DaemonSet"), ("batch", "Job"), ("batch", "CronJob"),
})


def _name(request: AdmissionRequest) -> str:
    if request.name:
        return request.name
    obj = request.object if request.object is not None else request.old_object
    metadata = obj.get("metadata") if obj is not None else None
    if isinstance(metadata, dict):
        for key in ("name", "generateName"):
            value = metadata.get(key)
            if isinstance(value, str) and value:
                return value
    return ""


def _pod(request: AdmissionRequest) -> PodView | None:
    """The pod, or the pod template of a workload, the request writes; None for other kinds."""
    obj = request.object if request.object is not None else request.old_object
    if obj is None:
        return None
    key = (request.kind.group, request.kind.kind)
    if key == ("", "Pod"):
        return pod_view(obj)
    if key in TEMPLATE_KINDS:
        return template_view(request.kind.kind, obj)
    return None


def identity_fields(request: AdmissionRequest, request_annotation: str,
                    decision: Decision | None = None) -> dict[str, Any]:
    """``serviceAccount`` and ``requested`` for a pod or pod template, else nothing.

    ``requested`` needs the request annotation's name, which the rules' label prefix sets:
    with no rules loaded it is unknown (""), and the line carries no ``requested`` rather
    than a guess. When the engine judged the object as a pod, ``decision`` carries both as
    the engine read them (the same annotation of the same rules), and nothing is read twice.
    """
    key = (request.kind.group, request.kind.kind)
    if key != ("", "Pod") and key not in TEMPLATE_KINDS:
        return {}
    if decision is not None and decision.service_account is not None \
            and decision.requested is not None:
        fields: dict[str, Any] = {"serviceAccount": decision.service_account}
        if request_annotation:
            fields["requested"] = list(decision.requested)
        return fields
    pod = _pod(request)
    if pod is None:
        return {}
    fields = {"serviceAccount": pod.service_account}
    if request_annotation:
        value = pod.annotations.get(request_annotation, "")
        fields["requested"] = [entry.entry for entry in parse_requests(value).valid]
    return fields


# The most bytes one line (its newline included) may take: a write of at most PIPE_BUF
# bytes to a pipe is never interleaved with another's, and with ``serve --workers`` every
# worker writes into the same stdout.
LINE_BYTES = select.PIPE_BUF
# Strings a client chooses, shortened to this many characters when a line is too long.
LONG_FIELDS = ("user", "name", "namespace", "serviceAccount", "error")
SHORT_FIELD = 253


def encoded(entry: dict[str, Any]) -> bytes:
    """The JSON line of ``entry`` with its newline, within :data:`LINE_BYTES`. A longer
    line first leaves out ``requested`` entries from the end (``requestedOmitted`` counts
    them), then shortens the strings a client chooses (``truncated``)."""
    line = orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
    if len(line) <= LINE_BYTES:
        return line
    entry = dict(entry)
    requested = entry.get("requested")
    if isinstance(requested, list) and requested:
        entry["requested"], entry["requestedOmitted"] = [], len(requested)
        room = LINE_BYTES - 1 - len(orjson.dumps(entry))
        kept: list[Any] = []
        for item in requested:
            cost = len(orjson.dumps(item)) + (1 if kept else 0)  # and its comma
            if cost > room:
                break
            room -= cost
            kept.append(item)
        entry["requested"], entry["requestedOmitted"] = kept, len(requested) - len(kept)
        line = orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
    if len(line) > LINE_BYTES:
        for key in LONG_FIELDS:
            value = entry.get(key)
            if isinstance(value, str) and len(value) > SHORT_FIELD:
                entry[key] = value[:SHORT_FIELD]
        entry["truncated"] = True
        line = orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
    return line


def chunks(lines: list[bytes]) -> Iterator[list[bytes]]:
    """``lines`` in order, grouped so that each group's bytes fit one write of at most
    :data:`LINE_BYTES` (a pipe never interleaves it with another worker's)."""
    group: list[bytes] = []
    size = 0
    for line in lines:
        if group and size + len(line) > LINE_BYTES:
            yield group
            group, size = [], 0
        group.append(line)
        size += len(line)
    if group:
        yield group


log = logging.getLogger("egressguard.audit")
QUEUE_LINES = 10_000
STALL_SECONDS = 5.0
LINGER_SECONDS = 0.01
# Written by one or more whole lines at a time, each ending in a newline, at most
# LINE_BYTES together.
AuditSink = Callable[[bytes], None]


class AuditLog:
    """Writes audit records through ``sink`` (stdout in production) from a writer thread.

    The event loop only encodes a line and hands it over: ``SimpleQueue`` takes it without a
    lock, and the two counters of lines queued and lines done are each written by one thread
    only, so neither waits for the other."""

    def __init__(self, sink: AuditSink, on_lost: Callable[[], None] = lambda: None) -> None:
        self._sink = sink
        self._on_lost = on_lost
        self._queue: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()
        self._queued = 0  # lines handed over (the event loop's count)
        self._done = 0  # lines written or lost (the writer's count)
        self._write_failed = False
        self._writing_since = 0.0  # when the oldest line being written was queued; 0: none
        self._writer = threading.Thread(target=self._write, name="audit", daemon=True)
        self._writer.start()

    @property
    def failing(self) -> bool:
        """Lines are being lost, or wait too long to be written."""
        waiting = self._writing_since
        return self._write_failed or self._queued - self._done >= QUEUE_LINES or (
            waiting > 0 and clock.monotonic() - waiting > STALL_SECONDS)

    def _write(self) -> None:
        while (item := self._queue.get()) is not None:
            # Linger, then write what came meanwhile: the thread takes the interpreter lock
            # once per batch rather than between the two calls of one pod create.
            clock.sleep(LINGER_SECONDS)
            batch: list[tuple[float, bytes]] = [item]
            stop = False
            with contextlib.suppress(queue.Empty):
                while True:
                    more = self._queue.get_nowait()
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
            position = 0
            for group in chunks([line for _, line in batch]):
                self._write_group(batch[position][0], group)
                position += len(group)
            if stop:
                return

    def _write_group(self, queued: float, group: list[bytes]) -> None:
        self._writing_since = queued
        try:
            self._sink(b"".join(group))
        except Exception as error:  # a full disk, a closed pipe
            if not self._write_failed:
                log.error("audit log cannot be written (%s); reporting not ready", error)
            self._write_failed = True
            for _ in group:
                self._on_lost()
        else:
            self._write_failed = False
        finally:
            self._writing_since = 0.0
            self._done += len(group)

    def written(self, timeout: float = 5.0) -> bool:
        """Waits until every queued line was handed to the sink (tests, shutdown)."""
        deadline = clock.monotonic() + timeout
        while self._done < self._queued:
            if clock.monotonic() > deadline:
                return False
            clock.sleep(0.001)
        return True

    def close(self) -> None:
        self.written(timeout=1.0)
        self._queue.put(None)

    def record(
        self,
        *,
        time: datetime,
        webhook: str,
        request: AdmissionRequest,
        decision: Decision | None,
        duration_seconds: float,
        rules_revision: str,
        request_annotation: str = "",
        error: str = "",
    ) -> None:
        entry: dict[str, Any] = {
            "time": time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "webhook": webhook,
            "uid": request.uid,
            "kind": request.kind.kind,
            "group": request.kind.group,
            "namespace": request.namespace,
            "name": _name(request),
            "operation": request.operation,
            "subResource": request.sub_resource,
            "user": request.user.username,
            "dryRun": request.dry_run,
            "mode": decision.mode.value if decision is not None else "",
            "allowed": decision.allowed if decision is not None else False,
            "codes": list(decision.codes) if decision is not None else [],
            "patched": bool(decision and decision.patch and webhook == "mutate"),
            "duration": round(duration_seconds, 6),  # seconds, SPEC §6
            "rulesRevision": rules_revision,
            **identity_fields(request, request_annotation, decision),
        }
        if error:
            entry["error"] = error
        if self._queued - self._done >= QUEUE_LINES:
            self._on_lost()
            return
        self._queued += 1
        self._queue.put((clock.monotonic(), encoded(entry)))
