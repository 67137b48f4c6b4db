"""Namespace labels fail closed (RELIABILITY 10): unknown is ``None``, never "no labels"."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping

import pytest

from tests.admission import request
from webhook.model.review import AdmissionRequest
from webhook.model.rules import Config, Policy
from webhook.server import namespaces
from webhook.server.admission import namespace_labels
from webhook.server.namespaces import NamespaceEvent, WatchedNamespaces, WithoutCluster

from . import reviews
from .conftest import StartServer

POLICY = Policy.build(config=Config(), destinations=())
MODE = "egressguard.io/mode"


class FakeApi:
    """A list and a watch the test scripts; the watch blocks until told to go on."""

    def __init__(self) -> None:
        self.namespaces: dict[str, Mapping[str, str]] = {}
        self.terminating: frozenset[str] = frozenset()
        self.events: list[NamespaceEvent | Exception] = []
        self.list_calls = 0
        self.fail_list = threading.Event()
        self.changed = threading.Condition()

    def list(self) -> tuple[dict[str, Mapping[str, str]], str, frozenset[str]]:
        self.list_calls += 1
        if self.fail_list.is_set():
            raise ConnectionError("API server unreachable")
        return dict(self.namespaces), "1", self.terminating

    def watch(self, version: str, stop: threading.Event) -> Iterator[NamespaceEvent]:
        deadline = time.monotonic() + 0.2
        while not stop.is_set() and time.monotonic() < deadline:
            with self.changed:
                if not self.events:
                    self.changed.wait(0.02)
                    continue
                item = self.events.pop(0)
            if isinstance(item, Exception):
                raise item
            yield item

    def send(self, item: NamespaceEvent | Exception) -> None:
        with self.changed:
            self.events.append(item)
            self.changed.notify_all()


def until(condition: object, what: str) -> None:
    deadline = time.monotonic() + 5
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_before_the_first_list_every_namespace_is_unknown() -> None:
    api = FakeApi()
    api.namespaces = {"shop": {MODE: "warn"}}
    cache = WatchedNamespaces(api.list, api.watch, initial_backoff=0.01)
    assert cache.labels("shop") is None
    assert not cache.synced


def test_labels_follow_the_watch_and_unknown_namespaces_stay_unknown() -> None:
    api = FakeApi()
    api.namespaces = {"shop": {MODE: "warn"}, "plain": {}}
    cache = WatchedNamespaces(api.list, api.watch, initial_backoff=0.01)
    cache.start()
    try:
        assert cache.wait_synced(5)
        assert cache.labels("shop") == {MODE: "warn"}
        assert cache.labels("plain") == {}
        assert cache.labels("new") is None
        api.send(NamespaceEvent("ADDED", "new", {MODE: "off"}, "2"))
        until(lambda: cache.labels("new") == {MODE: "off"}, "the ADDED event")
        api.send(NamespaceEvent("MODIFIED", "shop", {}, "3"))
        until(lambda: cache.labels("shop") == {}, "the MODIFIED event")
        api.send(NamespaceEvent("DELETED", "new", {}, "4"))
        until(lambda: cache.labels("new") is None, "the DELETED event")
    finally:
        cache.stop()


def test_the_cache_knows_which_namespaces_are_being_deleted() -> None:
    api = FakeApi()
    api.namespaces = {"stuck": {}, "shop": {}}
    api.terminating = frozenset({"stuck"})
    cache = WatchedNamespaces(api.list, api.watch, initial_backoff=0.01)
    cache.start()
    try:
        assert cache.wait_synced(5)
        assert cache.terminating("stuck") and not cache.terminating("shop")
        api.send(NamespaceEvent("MODIFIED", "shop", {}, "2", terminating=True))
        until(lambda: cache.terminating("shop"), "the MODIFIED event")
        api.send(NamespaceEvent("DELETED", "shop", {}, "3"))
        until(lambda: not cache.terminating("shop"), "the DELETED event")
        assert cache.terminating("stuck")
    finally:
        cache.stop()
    assert not WithoutCluster().terminating("stuck")


def test_a_failed_watch_lists_again() -> None:
    api = FakeApi()
    api.namespaces = {"shop": {MODE: "warn"}}
    cache = WatchedNamespaces(api.list, api.watch, initial_backoff=0.01)
    cache.start()
    try:
        assert cache.wait_synced(5)
        api.namespaces = {"shop": {MODE: "enforce"}}
        api.send(ConnectionResetError("watch broke"))
        until(lambda: cache.labels("shop") == {MODE: "enforce"}, "the re-list")
        assert api.list_calls >= 2
    finally:
        cache.stop()


def test_a_cache_that_never_synced_keeps_failing_closed() -> None:
    api = FakeApi()
    api.fail_list.set()
    cache = WatchedNamespaces(api.list, api.watch, initial_backoff=0.01)
    cache.start()
    try:
        until(lambda: api.list_calls >= 3, "retries")
        assert cache.labels("shop") is None
    finally:
        cache.stop()


def request_in(namespace: str) -> AdmissionRequest:
    return request({"apiVersion": "v1", "kind": "Pod", "metadata": {}}, namespace=namespace)


def test_without_a_cluster_namespaces_have_no_labels_but_the_modes_given() -> None:
    source = WithoutCluster()
    assert namespace_labels("shop", POLICY, source, {}) == {}
    assert namespace_labels("shop", POLICY, source, {"shop": "warn"}) == {
        MODE: "warn"
    }


def test_an_unknown_namespace_reaches_the_engine_as_none() -> None:
    api = FakeApi()
    cache = WatchedNamespaces(api.list, api.watch)
    assert namespace_labels("shop", POLICY, cache, {}) is None


async def test_a_request_in_an_unknown_namespace_is_judged_in_enforce_mode(
    start_server: StartServer,
) -> None:
    api = FakeApi()
    api.namespaces = {"shop": {MODE: "warn"}}
    cache = WatchedNamespaces(api.list, api.watch, initial_backoff=0.01)
    server = await start_server(namespaces=cache)
    assert cache.wait_synced(5)
    warned = await server.post("/validate", reviews.pod_review(reviews.host_network_pod()))
    assert warned.json()["response"]["allowed"] is True
    elsewhere = reviews.pod("sneaky", namespace="unknown", hostNetwork=True)
    refused = await server.post("/validate", reviews.pod_review(elsewhere))
    response = refused.json()["response"]
    assert response["allowed"] is False
    assert "namespace labels could not be read" in " ".join(response.get("warnings", []))
    assert server.audit[-1]["mode"] == "enforce"


def test_a_bookmark_from_the_real_client_moves_the_watch_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The Kubernetes client leaves a BOOKMARK's object a dict (it does not read it as a
    Namespace); the watch takes its resourceVersion and goes on instead of failing and
    listing every namespace again."""
    import kubernetes

    client = kubernetes.client
    lines = [
        {"type": "BOOKMARK", "object": {"kind": "Namespace",
                                        "metadata": {"resourceVersion": "42"}}},
        {"type": "ADDED", "object": {"kind": "Namespace", "metadata": {
            "name": "shop", "resourceVersion": "43", "labels": {"egressguard.io/mode": "warn"}}}},
    ]
    api = client.ApiClient()
    real = kubernetes.watch.Watch

    class Watch:
        def stream(self, func: object, **kwargs: object) -> Iterator[dict[str, object]]:
            watch = real()
            for line in lines:
                yield watch.unmarshal_event(json.dumps(line), "V1Namespace")

        def stop(self) -> None:
            pass

    monkeypatch.setattr(namespaces, "_api_client", lambda kubeconfig: api)
    monkeypatch.setattr(kubernetes.watch, "Watch", Watch)
    watched = namespaces.from_cluster("unused")
    events = list(watched._watch("41", threading.Event()))
    assert [(e.type, e.name, e.resource_version) for e in events] == [
        ("BOOKMARK", "", "42"), ("ADDED", "shop", "43")]
    assert events[1].labels == {"egressguard.io/mode": "warn"}
