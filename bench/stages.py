"""Where one admission request's CPU goes, stage by stage, in process.

Each stage of ``webhook.server.admission.admit`` and its middlewares is timed on its own,
with process CPU time, over the pod mix the load runs send: decoding (``decode_json``:
``orjson.loads`` and nothing more), ``parse_review``,
``evaluate``, building and encoding the answer, the metrics and the audit line. CPU time is
what other processes on a shared machine do not distort, so these figures are steadier
than the load runs'; the HTTP and TLS stack around them is what the null webhook costs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from bench.corpus import SIZES, repository
from bench.reviews import pod_mix
from webhook.engine import evaluate
from webhook.loader import load_repository
from webhook.model.review import parse_review
from webhook.model.rules import Policy
from webhook.server.audit import AuditLog
from webhook.server.decoding import decode_json
from webhook.server.metrics import Metrics
from webhook.server.responses import complete, from_decision

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _cpu_us(work: Callable[[], object], *, rounds: int) -> float:
    """Best-of-``rounds`` process CPU microseconds of one call of ``work`` over the mix."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best * 1e6


def stages(policy: Policy, bodies: list[bytes], *, rounds: int) -> list[dict[str, Any]]:
    values = [orjson.loads(body) for body in bodies]
    requests = [parse_review(value) for value in values]
    decisions = [evaluate(r, policy, now=NOW, namespace_labels={}) for r in requests]
    metrics = Metrics()
    with open(os.devnull, "wb") as devnull:

        def sink(lines: bytes) -> None:
            devnull.write(lines)
            devnull.flush()

        audit = AuditLog(sink)

        def observe() -> None:
            for request in requests:
                metrics.observe(webhook="mutate", request=request, decision="allowed",
                                mode="enforce", seconds=0.001)

        def record() -> None:
            for decision, request in zip(decisions, requests, strict=True):
                audit.record(time=NOW, webhook="mutate", request=request, decision=decision,
                             duration_seconds=0.001, rules_revision="abc")
            audit.written()  # the writer thread's share counts too

        work: list[tuple[str, Callable[[], object]]] = [
            ("decode_json (orjson.loads)", lambda: [decode_json(b) for b in bodies]),
            ("parse_review", lambda: [parse_review(v) for v in values]),
            ("evaluate", lambda: [evaluate(r, policy, now=NOW, namespace_labels={})
                                  for r in requests]),
            ("from_decision + complete + orjson.dumps",
             lambda: [orjson.dumps(complete(from_decision(d, mutating=True), r))
                      for d, r in zip(decisions, requests, strict=True)]),
            ("Metrics.observe", observe),
            ("AuditLog.record and its write (to /dev/null)", record),
        ]
        rows = [{"stage": name, "us_per_request": round(_cpu_us(fn, rounds=rounds) /
                                                        len(bodies), 1)}
                for name, fn in work]
        audit.close()
        return rows


def run(*, quick: bool) -> dict[str, Any]:
    policy = load_repository(repository(*SIZES[0])).policy
    bodies = [sample.body for sample in pod_mix(200)]
    rows = stages(policy, bodies, rounds=3 if quick else 10)
    return {
        "benchmark": "stages",
        "requests": "the load runs' pod mix (200 pod CREATEs, mean "
                    f"{sum(map(len, bodies)) / len(bodies) / 1024:.1f} KiB), 10 grants",
        "rows": rows,
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"one request's stages, CPU microseconds each, in process ({result['requests']})"]
    for row in result["rows"]:
        lines.append(f"  {row['stage']:<46} {row['us_per_request']:>8.1f}")
    total = sum(r["us_per_request"] for r in result["rows"])
    lines.append(f"  {'total beyond the HTTP/TLS stack':<46} {total:>8.1f}")
    return "\n".join(lines)
