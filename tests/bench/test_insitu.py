"""The floor run of bench.insitu: what it leaves out, and that it puts everything back."""

from __future__ import annotations

from typing import Any

import orjson

from bench.insitu import left_out
from bench.null import allow
from bench.reviews import pod_mix
from tests.example_policy import NOW, example_policy
from webhook.model.review import parse_review
from webhook.server import admission
from webhook.server.audit import AuditLog
from webhook.server.metrics import Metrics


def test_without_the_engine_a_review_gets_the_first_answer_for_its_uid() -> None:
    policy = example_policy()
    samples = pod_mix(20)
    first = parse_review(orjson.loads(samples[0].body))
    other = next(r for r in (parse_review(orjson.loads(s.body)) for s in samples)
                 if r.uid != first.uid)
    with left_out(frozenset({"engine"})):
        evaluate: Any = vars(admission)["evaluate"]
        answer = evaluate(first, policy, now=NOW, namespace_labels={})
        assert evaluate(first, policy, now=NOW, namespace_labels=None) is answer
        assert evaluate(other, policy, now=NOW, namespace_labels={}) is not answer


def parts() -> tuple[Any, ...]:
    return (vars(admission)["evaluate"], AuditLog.record, Metrics.observe, admission.mutate,
            admission.validate)


def test_every_part_left_out_is_put_back() -> None:
    before = parts()
    with left_out(frozenset({"engine", "audit", "metrics", "handler"})):
        during = parts()
        assert all(a is not b for a, b in zip(before, during, strict=True))
        assert admission.mutate is admission.validate is allow
    assert parts() == before
