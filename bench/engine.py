"""In-process micro-benchmarks of the engine: decisions per second by kind and by rule count.

A *decision* here is what the handler does with a body between reading it and encoding
the answer: ``orjson.loads``, ``parse_review`` and ``evaluate``. No HTTP, no TLS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from bench.corpus import SIZES, repository
from bench.reviews import Sample, full_corpus, pod_review
from webhook.engine import evaluate
from webhook.loader import load_repository
from webhook.model.review import parse_review
from webhook.model.rules import Policy

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
Log = Callable[[str], None]


def decide(body: bytes, policy: Policy) -> bool:
    request = parse_review(orjson.loads(body))
    return evaluate(request, policy, now=NOW, namespace_labels={}).allowed


def decisions_per_second(policy: Policy, bodies: list[bytes], *, seconds: float) -> float:
    """Best of 5 rounds of ``seconds / 5`` each, cycling through ``bodies``."""
    rates = []
    for _ in range(5):
        count = 0
        start = time.perf_counter()
        deadline = start + seconds / 5
        while True:
            for body in bodies:
                decide(body, policy)
            count += len(bodies)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 5 or start + elapsed >= deadline:
                break
        rates.append(count / elapsed)
    return max(rates)


def by_kind(policy: Policy, samples: list[Sample], *, seconds: float) -> list[dict[str, Any]]:
    groups: dict[str, list[bytes]] = {}
    for sample in samples:
        groups.setdefault(sample.kind, []).append(sample.body)
    rows = []
    for kind, bodies in groups.items():
        rate = decisions_per_second(policy, bodies, seconds=seconds)
        rows.append({
            "kind": kind,
            "reviews": len(bodies),
            "mean_kib": round(sum(map(len, bodies)) / len(bodies) / 1024, 1),
            "decisions_per_second": round(rate),
            "us_per_decision": round(1e6 / rate, 1),
        })
    return rows


def by_rule_count(sizes: list[tuple[int, int]], *, seconds: float,
                  log: Log) -> list[dict[str, Any]]:
    body = orjson.dumps(pod_review())
    rows = []
    for grants, destinations in sizes:
        repo = repository(grants, destinations)
        started = time.perf_counter()
        policy = load_repository(repo).policy
        load_seconds = time.perf_counter() - started
        log(f"  engine: loaded {grants:,} grants in {load_seconds:.1f} s")
        assert decide(body, policy), "the typical pod review must be allowed"
        rate = decisions_per_second(policy, [body], seconds=seconds)
        rows.append({
            "grants": grants,
            "destinations": destinations,
            "load_seconds": round(load_seconds, 2),
            "decisions_per_second": round(rate),
            "us_per_decision": round(1e6 / rate, 1),
        })
        del policy
    baseline = rows[0]["decisions_per_second"]
    for row in rows:
        row["relative_to_10_grants"] = round(row["decisions_per_second"] / baseline, 3)
    return rows


def run(*, quick: bool, log: Log = print) -> dict[str, Any]:
    sizes = [SIZES[0], SIZES[-1]] if quick else list(SIZES)
    small = load_repository(repository(*SIZES[0])).policy
    kinds = by_kind(small, full_corpus(), seconds=0.25 if quick else 2.0)
    counts = by_rule_count(sizes, seconds=0.5 if quick else 5.0, log=log)
    return {
        "benchmark": "engine",
        "decision": "orjson.loads + parse_review + evaluate, in process",
        "by_kind": kinds,
        "by_rule_count": counts,
        "rule_count_review": "pod CREATE of shop/checkout asking for 2 granted destinations",
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "engine, in process: decisions per second by kind (10 grants)",
        f"  {'kind':<22} {'reviews':>7} {'mean KiB':>9} {'decisions/s':>12} {'us each':>8}",
    ]
    for row in result["by_kind"]:
        lines.append(f"  {row['kind']:<22} {row['reviews']:>7} {row['mean_kib']:>9} "
                     f"{row['decisions_per_second']:>12,} {row['us_per_decision']:>8}")
    lines += [
        "engine, in process: the typical pod review by rule count",
        f"  {'grants':>9} {'destinations':>13} {'load s':>8} {'decisions/s':>12} "
        f"{'us each':>8} {'vs 10 grants':>13}",
    ]
    for row in result["by_rule_count"]:
        lines.append(
            f"  {row['grants']:>9,} {row['destinations']:>13,} {row['load_seconds']:>8} "
            f"{row['decisions_per_second']:>12,} {row['us_per_decision']:>8} "
            f"{row['relative_to_10_grants']:>13.3f}"
        )
    return "\n".join(lines)
