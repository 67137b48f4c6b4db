"""How the audit log's writer thread hands lines to stdout: whole lines, in order, in
writes a pipe never interleaves, and every line written or counted as lost."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook.model.review import parse_review
from webhook.server import audit

from . import reviews

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@given(st.lists(st.integers(min_value=1, max_value=audit.LINE_BYTES), max_size=60))
def test_lines_are_grouped_in_order_into_writes_of_at_most_pipe_buf(sizes: list[int]) -> None:
    lines = [b"x" * (size - 1) + b"\n" for size in sizes]
    groups = list(audit.chunks(lines))
    assert [line for group in groups for line in group] == lines
    assert all(sum(map(len, group)) <= audit.LINE_BYTES for group in groups)
    # A group ends only where the next line would not fit.
    for group, following in itertools.pairwise(groups):
        assert sum(map(len, group)) + len(following[0]) > audit.LINE_BYTES


def _record(log: audit.AuditLog, uid: str) -> None:
    review = reviews.pod_review(reviews.stripe_pod())
    review["request"]["uid"] = uid
    log.record(time=NOW, webhook="validate", request=parse_review(review), decision=None,
               duration_seconds=0.001, rules_revision="r")


def test_lines_recorded_together_reach_the_sink_in_one_write_in_order() -> None:
    writes: list[bytes] = []
    log = audit.AuditLog(writes.append)
    for index in range(20):
        _record(log, f"uid-{index}")
    assert log.written()
    lines = [orjson.loads(line) for write in writes for line in write.splitlines()]
    assert [line["uid"] for line in lines] == [f"uid-{index}" for index in range(20)]
    assert len(writes) < 20
    assert all(len(write) <= audit.LINE_BYTES and write.endswith(b"\n") for write in writes)
    log.close()


def test_a_failed_write_counts_every_line_it_held_as_lost() -> None:
    lost: list[None] = []
    writes: list[bytes] = []
    failing = threading.Event()
    failing.set()

    def sink(lines: bytes) -> None:
        if failing.is_set():
            raise OSError(28, "No space left on device")
        writes.append(lines)

    log = audit.AuditLog(sink, on_lost=lambda: lost.append(None))
    for index in range(5):
        _record(log, f"uid-{index}")
    assert log.written()
    assert len(lost) == 5 and writes == [] and log.failing
    failing.clear()
    _record(log, "uid-after")
    assert log.written()
    assert not log.failing and [orjson.loads(w)["uid"] for w in writes] == ["uid-after"]
    log.close()


def test_past_the_queue_bound_lines_are_lost_and_the_log_is_failing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit, "QUEUE_LINES", 3)
    stalled = threading.Event()
    lost: list[None] = []
    log = audit.AuditLog(lambda lines: stalled.wait(30), on_lost=lambda: lost.append(None))
    for index in range(5):
        _record(log, f"uid-{index}")
    assert log.failing and len(lost) == 2
    stalled.set()
    assert log.written()
    assert not log.failing
    log.close()
