"""Events on the owners of controller-created pods: one per owner and codes, throttled."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.audit.test_judging import documents
from tests.example_policy import NOW, example_policy
from webhook.audit.events import OwnerEvent, Throttle, owner_events
from webhook.audit.findings import Audit, ObjectRef
from webhook.audit.inventory import snapshot_of
from webhook.audit.judging import audit


@pytest.fixture(scope="module")
def result() -> Audit:
    return audit(snapshot_of(documents(), []), example_policy(), now=NOW)


def test_only_pods_with_an_owner_make_an_event_on_the_top_owner(result: Audit) -> None:
    events = owner_events(result.findings)
    assert [(e.owner.kind, e.owner.name, e.codes) for e in events] == [
        ("Deployment", "web", ("privileged",))]
    assert events[0].message.startswith("pod web-5d9f-x7k2p warned by egressguard: "
                                        "[privileged] ")


def event(name: str, *codes: str) -> OwnerEvent:
    return OwnerEvent(ObjectRef("apps/v1", "Deployment", "shop", name, f"uid-{name}"), codes,
                      "m")


def test_the_same_owner_and_codes_are_said_again_only_after_the_repeat_interval() -> None:
    throttle = Throttle(repeat=timedelta(hours=1))
    web = event("web", "privileged")
    assert throttle.due([web], NOW) == [web]
    assert throttle.due([web], NOW + timedelta(minutes=59)) == []
    assert throttle.due([web], NOW + timedelta(minutes=61)) == [web]


def test_new_codes_on_the_same_owner_are_said_at_once() -> None:
    throttle = Throttle()
    throttle.due([event("web", "privileged")], NOW)
    wider = event("web", "host-network", "privileged")
    assert throttle.due([wider], NOW + timedelta(seconds=1)) == [wider]


def test_a_problem_that_went_away_and_came_back_is_said_again() -> None:
    throttle = Throttle()
    web = event("web", "privileged")
    throttle.due([web], NOW)
    assert throttle.due([], NOW + timedelta(minutes=1)) == []
    assert throttle.due([web], NOW + timedelta(minutes=2)) == [web]


def test_at_most_per_run_events_per_audit_and_the_rest_the_next_time() -> None:
    throttle = Throttle(per_run=2)
    many = [event(f"web{i}", "privileged") for i in range(5)]
    assert len(throttle.due(many, NOW)) == 2
    assert len(throttle.due(many, NOW + timedelta(seconds=1))) == 2
    assert len(throttle.due(many, NOW + timedelta(seconds=2))) == 1
