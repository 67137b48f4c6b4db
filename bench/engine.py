"""In-process micro-benchmarks of the engine: decisions per second by rule count."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

from bench.corpus import pod_review, write_rules
from webhook.engine import evaluate
from webhook.loader import load_repository
from webhook.model.review import parse_review
from webhook.model.rules import Policy

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def decisions_per_second(policy: Policy, review: dict[str, Any], *, seconds: float) -> float:
    """Best-of-5 rate of parse + evaluate, each round running for ``seconds / 5``."""
    rates = []
    for _ in range(5):
        count = 0
        start = time.perf_counter()
        deadline = start + seconds / 5
        while True:
            for _ in range(200):
                request = parse_review(review)
                evaluate(request, policy, now=NOW, namespace_labels={})
            count += 200
            elapsed = time.perf_counter() - start
            if start + elapsed >= deadline:
                break
        rates.append(count / elapsed)
    return max(rates)


def run(workdir: Path, *, quick: bool) -> dict[str, Any]:
    sizes = [(10, 10), (100_000, 10_000)]
    review = pod_review()
    seconds = 1.0 if quick else 5.0
    rows = []
    for grants, destinations in sizes:
        repo = write_rules(workdir / f"rules-{grants}", grants=grants, destinations=destinations)
        started = time.perf_counter()
        policy = load_repository(repo).policy
        load_seconds = time.perf_counter() - started
        decision = evaluate(parse_review(review), policy, now=NOW, namespace_labels={})
        assert decision.allowed and len(decision.patch) >= 2, decision
        rate = decisions_per_second(policy, review, seconds=seconds)
        rows.append({"grants": grants, "destinations": destinations,
                     "load_seconds": round(load_seconds, 2), "decisions_per_second": round(rate)})
    baseline = rows[0]["decisions_per_second"]
    for row in rows:
        row["relative_to_10_grants"] = round(row["decisions_per_second"] / baseline, 3)
    return {"benchmark": "engine", "review": "pod CREATE with 2 requests", "rows": rows,
            "median_rate": median(r["decisions_per_second"] for r in rows)}


def table(result: dict[str, Any]) -> str:
    lines = [
        "engine: decisions per second for a pod review (parse + evaluate), in process",
        f"{'grants':>9} {'destinations':>13} {'load s':>8} {'decisions/s':>12} {'vs 10 grants':>13}",
    ]
    for row in result["rows"]:
        lines.append(
            f"{row['grants']:>9,} {row['destinations']:>13,} {row['load_seconds']:>8} "
            f"{row['decisions_per_second']:>12,} {row['relative_to_10_grants']:>13.3f}"
        )
    return "\n".join(lines)
