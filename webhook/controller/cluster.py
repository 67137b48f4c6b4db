"""The API server, as the controller uses it: apply, list ours, delete, watch.

Built on the official ``kubernetes`` client (its dynamic client for server-side apply of
any kind, its ``watch`` for streams, its ``leaderelection`` for the Lease). The client
blocks, so everything here runs in the controller's threads, never on the event loop.
Every request passes one token bucket (``qps``, ``burst``) and is counted.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from kubernetes import client, config, watch
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from webhook.controller.desired import FIELD_MANAGER, MANAGED_SELECTOR, ObjectKey
from webhook.controller.kinds import MANAGED_KINDS, ManagedKind

log = logging.getLogger("egressguard.controller")


class TokenBucket:
    """At most ``burst`` requests at once, refilled at ``qps`` a second."""

    def __init__(self, qps: float, burst: int) -> None:
        self._qps, self._burst = qps, float(burst)
        self._tokens, self._at = float(burst), time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._qps)
            self._at = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._qps
            self._tokens -= 1
        if wait:
            time.sleep(wait)


class CountingApiClient(client.ApiClient):
    """The official ApiClient, rate-limited, counting its requests."""

    def __init__(self, configuration: Any, bucket: TokenBucket) -> None:
        super().__init__(configuration)
        self.bucket = bucket
        self.requests = 0
        self._count = threading.Lock()

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        self.bucket.take()
        with self._count:
            self.requests += 1
        return super().call_api(*args, **kwargs)


def load_configuration(kubeconfig: str | None) -> Any:
    """The client configuration from a kubeconfig file, or the in-cluster service account;
    also made the default, which the Lease lock of ``kubernetes.leaderelection`` uses."""
    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        config.load_incluster_config(client_configuration=configuration)
    client.Configuration.set_default(configuration)
    return configuration


class Cluster:
    """The calls a reconcile makes. Kinds whose API the cluster does not serve (a CRD not
    installed) are skipped when listing; applying one is an error naming the kind."""

    def __init__(self, api: CountingApiClient) -> None:
        self.api = api
        self._dynamic: DynamicClient | None = None
        self._resources: dict[ManagedKind, Any] = {}

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            self._dynamic = DynamicClient(self.api)
        return self._dynamic

    @property
    def requests(self) -> int:
        return int(self.api.requests)

    def resource(self, kind: ManagedKind) -> Any | None:
        if kind not in self._resources:
            try:
                self._resources[kind] = self.dynamic.resources.get(
                    api_version=kind.api_version, kind=kind.kind)
            except ResourceNotFoundError:
                return None
        return self._resources[kind]

    def served_kinds(self) -> tuple[ManagedKind, ...]:
        return tuple(kind for kind in MANAGED_KINDS if self.resource(kind) is not None)

    def namespaces(self) -> tuple[list[str], str]:
        """The names of every namespace, and the list's resourceVersion."""
        listed = client.CoreV1Api(self.api).list_namespace()
        names = [str(item.metadata.name) for item in listed.items if item.metadata]
        return names, str(listed.metadata.resource_version if listed.metadata else "")

    def apply(self, key: ObjectKey, document: Mapping[str, Any]) -> str:
        """Server-side apply as ``egressguard``, taking over fields others changed; the
        object's resourceVersion after."""
        resource = self.resource(key.managed)
        if resource is None:
            raise RuntimeError(f"cannot apply {key}: the cluster does not serve "
                               f"{key.api_version} {key.kind} (install its CRD, or choose "
                               "another --reconcile-mode or --fence)")
        applied = self.dynamic.server_side_apply(
            resource, body=dict(document), namespace=key.namespace or None,
            field_manager=FIELD_MANAGER, force_conflicts=True)
        return str(applied.metadata.resourceVersion)

    def managed(self, kind: ManagedKind) -> list[dict[str, Any]]:
        """Every object of ``kind`` that carries our label, in every namespace."""
        resource = self.resource(kind)
        if resource is None:
            return []
        listed = self.dynamic.get(resource, label_selector=MANAGED_SELECTOR)
        # List items of built-in kinds may come without their type: name it.
        return [{**item.to_dict(), "apiVersion": kind.api_version, "kind": kind.kind}
                for item in listed.items]

    def delete(self, key: ObjectKey) -> None:
        resource = self.resource(key.managed)
        if resource is None:
            return
        with contextlib.suppress(NotFoundError):
            self.dynamic.delete(resource, name=key.name, namespace=key.namespace or None)

    def watch_managed(self, kind: ManagedKind, stop: threading.Event,
                      timeout: int) -> Iterator[dict[str, Any]]:
        """Events on our objects of ``kind`` (the library's watch; ends after ``timeout``
        seconds or when ``stop`` is set)."""
        resource = self.resource(kind)
        if resource is None:
            return
        watcher = watch.Watch()
        for event in self.dynamic.watch(resource, label_selector=MANAGED_SELECTOR,
                                        timeout=timeout, watcher=watcher):
            yield event
            if stop.is_set():
                watcher.stop()
                return

    def watch_namespaces(self, stop: threading.Event, timeout: int) -> Iterator[dict[str, Any]]:
        watcher = watch.Watch()
        for event in watcher.stream(client.CoreV1Api(self.api).list_namespace,
                                    timeout_seconds=timeout):
            yield event
            if stop.is_set():
                watcher.stop()
                return
