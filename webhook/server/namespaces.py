"""Namespace labels for the engine: the mode label lives on the namespace.

The cache also knows which namespaces are being deleted (a deletion timestamp, or phase
Terminating): DELETEs of their objects are admitted, so no namespace sticks in Terminating.

With a cluster, a thread keeps a watch-based cache of every Namespace's labels (the
kubernetes client blocks, so it never runs on the event loop). A namespace the cache does
not hold, or any namespace before the first list completed, is ``None``: the engine then
judges in enforce mode. "Unknown" never becomes "no labels" (RELIABILITY 10). Without a
cluster every namespace has no labels, so the Config's default mode applies, except those
given a mode with ``--namespace-mode`` (for local runs, as in ``validate``).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("egressguard.namespaces")

MAX_BACKOFF = 30.0
WATCH_SECONDS = 60


class NamespaceLabels(Protocol):
    def labels(self, namespace: str) -> Mapping[str, str] | None: ...

    def terminating(self, namespace: str) -> bool: ...

    @property
    def synced(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class WithoutCluster:
    """No API server to ask: every namespace has no labels."""

    synced = True

    def labels(self, namespace: str) -> Mapping[str, str] | None:
        return {}

    def terminating(self, namespace: str) -> bool:
        return False

    def start(self) -> None:
        log.info("no cluster configured (--namespaces none): every namespace is judged "
                 "with no labels, in the rules' default mode, unless --namespace-mode says")

    def stop(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class NamespaceEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    name: str
    labels: Mapping[str, str]
    resource_version: str
    terminating: bool = False


# list() -> (labels by namespace, resourceVersion, the namespaces being deleted);
# watch(rv, stop) -> events from rv on.
ListNamespaces = Callable[[], tuple[dict[str, Mapping[str, str]], str, frozenset[str]]]
WatchNamespaces = Callable[[str, threading.Event], Iterator[NamespaceEvent]]


class WatchedNamespaces:
    """A list-then-watch cache of Namespace labels, kept by a daemon thread."""

    def __init__(self, list_namespaces: ListNamespaces, watch_namespaces: WatchNamespaces,
                 *, initial_backoff: float = 1.0) -> None:
        self._list = list_namespaces
        self._watch = watch_namespaces
        self._initial_backoff = initial_backoff
        self._labels: dict[str, Mapping[str, str]] = {}
        self._terminating: frozenset[str] = frozenset()
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def labels(self, namespace: str) -> Mapping[str, str] | None:
        if not self._synced.is_set():
            return None
        return self._labels.get(namespace)

    def terminating(self, namespace: str) -> bool:
        return namespace in self._terminating

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="namespace-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        backoff = self._initial_backoff
        while not self._stop.is_set():
            try:
                labels, version, terminating = self._list()
                self._labels = dict(labels)  # a re-list replaces the cache in one assignment
                self._terminating = terminating
                self._synced.set()
                log.info("namespace labels synced: %d namespaces", len(labels))
                backoff = self._initial_backoff
                while not self._stop.is_set():
                    version = self._follow(version)
            except Exception as error:  # the API server is away, or the watch expired
                if self._stop.is_set():
                    return
                log.warning("namespace watch failed (%s); listing again in %.0fs", error, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _follow(self, version: str) -> str:
        for event in self._watch(version, self._stop):
            if self._stop.is_set():
                break
            if event.type in ("ADDED", "MODIFIED"):
                self._labels[event.name] = dict(event.labels)
                self._mark(event.name, terminating=event.terminating)
            elif event.type == "DELETED":
                self._labels.pop(event.name, None)
                self._mark(event.name, terminating=False)
            elif event.type != "BOOKMARK":
                raise RuntimeError(f"watch ended with {event.type}")
            version = event.resource_version or version
        return version

    def _mark(self, name: str, *, terminating: bool) -> None:
        if terminating != (name in self._terminating):
            self._terminating = self._terminating ^ {name}  # replaced, never mutated


def _is_terminating(namespace: Any) -> bool:
    phase = getattr(getattr(namespace, "status", None), "phase", None)
    return namespace.metadata.deletion_timestamp is not None or phase == "Terminating"


def _kubernetes() -> Any:
    """The kubernetes client package, loaded only when a cluster is used (it is heavy)."""
    return importlib.import_module("kubernetes")


def _api_client(kubeconfig: str | None) -> Any:
    client, config = _kubernetes().client, _kubernetes().config
    if kubeconfig:
        return config.new_client_from_config(config_file=kubeconfig)
    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)
    return client.ApiClient(configuration)


def from_cluster(kubeconfig: str | None) -> WatchedNamespaces:
    """A cache fed by the API server of ``kubeconfig``, or the in-cluster service account."""
    kubernetes = _kubernetes()
    core = kubernetes.client.CoreV1Api(_api_client(kubeconfig))

    def list_namespaces() -> tuple[dict[str, Mapping[str, str]], str, frozenset[str]]:
        result = core.list_namespace(_request_timeout=30)
        labels: dict[str, Mapping[str, str]] = {
            str(ns.metadata.name): dict(ns.metadata.labels or {}) for ns in result.items
        }
        terminating = frozenset(str(ns.metadata.name) for ns in result.items
                                if _is_terminating(ns))
        return labels, str(result.metadata.resource_version), terminating

    def watch_namespaces(version: str, stop: threading.Event) -> Iterator[NamespaceEvent]:
        stream = kubernetes.watch.Watch()
        for raw in stream.stream(core.list_namespace, resource_version=version,
                                 timeout_seconds=WATCH_SECONDS,
                                 _request_timeout=WATCH_SECONDS + 10,
                                 allow_watch_bookmarks=True):
            if stop.is_set():
                stream.stop()
                return
            obj = raw["object"]
            if raw["type"] == "ERROR":
                yield NamespaceEvent("ERROR", "", {}, "")
                return
            if isinstance(obj, dict):
                # The client leaves as a dict what it does not read as a Namespace: a
                # BOOKMARK carries only the resourceVersion to resume from.
                if raw["type"] != "BOOKMARK":
                    raise RuntimeError(f"watch sent a {raw['type']} event without a Namespace")
                version = (obj.get("metadata") or {}).get("resourceVersion") or ""
                yield NamespaceEvent("BOOKMARK", "", {}, str(version))
                continue
            yield NamespaceEvent(
                raw["type"], obj.metadata.name or "", dict(obj.metadata.labels or {}),
                obj.metadata.resource_version or "", terminating=_is_terminating(obj),
            )

    return WatchedNamespaces(list_namespaces, watch_namespaces)
