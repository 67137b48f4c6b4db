"""The benchmark corpus: rules repositories that load, and reviews that decide as named."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from bench.corpus import FIXED_GRANTS, repository, write_rules
from bench.rego import policy_data
from bench.reviews import KiB, full_corpus, pod_mix, pod_review, read_bodies, write_bodies
from webhook.engine import evaluate
from webhook.loader import load_repository
from webhook.model.review import parse_review
from webhook.model.rules import Policy

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    root = tmp_path_factory.mktemp("rules") / "repo"
    return load_repository(write_rules(root, grants=60, destinations=12)).policy


def decide(review: dict[str, object], policy: Policy) -> bool:
    request = parse_review(orjson.loads(orjson.dumps(review)))
    return evaluate(request, policy, now=NOW, namespace_labels={}).allowed


def test_a_generated_repository_loads_with_every_grant_and_destination(policy: Policy) -> None:
    assert len(policy.destinations) == 12
    assert len(policy.grants) == 60
    held = {(g.namespace, g.service_account, g.host) for g in policy.grants}
    assert {(g.namespace, g.service_account, g.host) for g in FIXED_GRANTS} <= held


def test_repositories_are_cached_and_written_once(tmp_path: Path) -> None:
    first = repository(20, 10, cache=tmp_path)
    marker = first / "config.yaml"
    written = marker.stat().st_mtime_ns
    assert repository(20, 10, cache=tmp_path) == first
    assert marker.stat().st_mtime_ns == written
    assert not list(tmp_path.glob("*.partial"))


def test_the_typical_pod_review_is_allowed_and_labelled(policy: Policy) -> None:
    request = parse_review(pod_review())
    decision = evaluate(request, policy, now=NOW, namespace_labels={})
    assert decision.allowed
    assert len(decision.patch) == 3  # shop/checkout holds three grants


def test_the_pod_mix_decides_as_each_case_is_named(policy: Policy) -> None:
    samples = pod_mix(150)
    for sample in samples:
        assert decide(sample.review, policy) == ("/denied" not in sample.name), sample.name


def test_the_pod_mix_spans_1_to_64_kib_and_every_case() -> None:
    samples = pod_mix(300)
    sizes = [len(sample.body) for sample in samples]
    assert min(sizes) < 2 * KiB
    assert 56 * KiB < max(sizes) <= 72 * KiB
    assert len(Counter(sample.name for sample in samples)) == 13


def test_the_full_corpus_holds_every_kind_and_updates(policy: Policy) -> None:
    samples = full_corpus()
    kinds = Counter(sample.kind for sample in samples)
    assert set(kinds) == {"pod-create", "pod-update", "deployment-create",
                          "deployment-update", "serviceentry-create", "envoyfilter-create"}
    for sample in samples:
        request = sample.review["request"]
        assert (request["oldObject"] is not None) == (request["operation"] == "UPDATE")
        parse_review(sample.review)  # well-formed, whatever the verdict


def test_bodies_round_trip_through_json_lines(tmp_path: Path) -> None:
    samples = pod_mix(5)
    path = write_bodies(tmp_path / "bodies.jsonl", samples)
    assert read_bodies(path) == [sample.body for sample in samples]


def test_the_opa_data_document_indexes_hosts_and_grants(policy: Policy) -> None:
    data = policy_data(policy)
    assert data["hosts"]["exact"]["dest-0.example.com"] == "dest-0"
    assert data["hosts"]["wildcards"]["dest-3.example.com"] == "dest-3"
    assert "dest-3.example.com" not in data["hosts"]["exact"]
    assert data["destinations"]["dest-7"]["access"] == "open"
    assert data["destinations"]["dest-8"]["ports"] == [443, 8443]
    report = data["grants"]["data"]["report"]
    assert report == [{"destination": "dest-5", "expires": "2020-01-31"}]
