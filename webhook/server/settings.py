"""Everything the webhook server is told at startup, in one immutable value.

The CLI builds it from flags; tests build it directly, and may replace the pieces that
reach outside the process (the rules loader, the namespace-label source, the audit sink).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from webhook.controller.options import AuditOptions, ControllerOptions
from webhook.model.rules import Policy
from webhook.server.worker_metrics import Workers

MiB = 1024 * 1024
# The API server accepts request bodies of up to 3 MiB, and writes each string of an object
# as Go's JSON encoder does: "<", ">", "&" and control characters as six-byte "\u003c"
# escapes. An UPDATE review carries the object and the oldObject, so a review the API
# server sends for an object it accepted may reach 2 x 6 x 3 MiB, plus the request around
# them.
API_SERVER_MAX_REQUEST_BYTES = 3 * MiB
JSON_ESCAPE_GROWTH = 6
DEFAULT_MAX_BODY_BYTES = 2 * JSON_ESCAPE_GROWTH * API_SERVER_MAX_REQUEST_BYTES + MiB
# Reviews read or judged at once, and the bodies they hold between them: within the
# deploy/ memory limit with room for the rules, whatever clients send.
DEFAULT_MAX_IN_FLIGHT = 64
DEFAULT_MAX_IN_FLIGHT_BYTES = 80 * MiB
# A decision must come well within the webhook configurations' timeoutSeconds (10).
DEFAULT_DECISION_TIMEOUT = 4.0
# Shorter than the webhook configurations' timeoutSeconds (10), so a slow client is cut off
# before the API server gives up on us.
DEFAULT_READ_TIMEOUT = 5.0
DEFAULT_DEBOUNCE_MS = 500


class LoadedRules(Protocol):
    """What ``webhook.loader.load_repository`` returns: a Policy and its warnings."""

    @property
    def policy(self) -> Policy: ...


RulesLoader = Callable[[Path], LoadedRules]


def _default_loader(own_namespace: str | None) -> RulesLoader:
    def load(path: Path) -> LoadedRules:
        from webhook.loader import load_repository

        return load_repository(path, own_namespace=own_namespace)

    return load


@dataclass(frozen=True, slots=True)
class _Loaded:
    policy: Policy
    warnings: tuple[str, ...] = ()


def trusting(loader: RulesLoader, service_account: str) -> RulesLoader:
    """``loader``, with the controller's own service account (``namespace:name``) added to
    the trusted principals of every Policy it loads, so that the webhook admits what the
    controller applies (managed objects, gateway routes and policies). Only that exact
    account, never a group; set only with ``--reconcile``."""

    def load(path: Path) -> LoadedRules:
        loaded = loader(path)
        policy = loaded.policy
        trusted = policy.config.trusted
        config = replace(policy.config, trusted=replace(
            trusted, service_accounts=trusted.service_accounts | {service_account}))
        return _Loaded(replace(policy, config=config),
                       tuple(getattr(loaded, "warnings", ()) or ()))

    return load


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _stdout_lines(lines: bytes) -> None:
    """Audit lines on stdout, in one write: at most PIPE_BUF bytes, never interleaved."""
    sys.stdout.buffer.write(lines)
    sys.stdout.buffer.flush()


@dataclass(frozen=True, slots=True)
class Settings:
    """The server's configuration. Paths may be symlinks (Secret and ConfigMap volumes)."""

    rules: Path
    cert: Path
    key: Path
    host: str = "0.0.0.0"
    port: int = 8443
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    read_timeout: float = DEFAULT_READ_TIMEOUT
    # Idle keep-alive connections are closed after this. Longer than the API server's own
    # idle timeout (90 s), so the client closes first and never sends a review down a
    # connection we are closing.
    keepalive_timeout: float = 120.0
    # Open connections at most; past it the longest-idle ones are closed. None: from the
    # file-descriptor limit, keeping room for the files and watches the server itself uses.
    max_connections: int | None = None
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    max_in_flight_bytes: int = DEFAULT_MAX_IN_FLIGHT_BYTES
    decision_timeout: float = DEFAULT_DECISION_TIMEOUT
    # Clients must present a certificate from this CA (the API server's, when configured).
    client_ca: Path | None = None
    reload_debounce_ms: int = DEFAULT_DEBOUNCE_MS
    watch: bool = True  # reload rules and certificate when their files change
    own_namespace: str | None = None
    # None: no cluster; every namespace has no labels except those named here.
    kubeconfig: str | None = None
    in_cluster: bool = False
    namespace_modes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # The controller (``--reconcile``): None leaves the cluster alone.
    reconcile: ControllerOptions | None = None
    # The controller's own service account ("namespace:name"), trusted by the webhook; set
    # only with --reconcile, and kept in every worker of ``serve --workers``.
    controller_account: str | None = None
    # The audit on an interval (``--audit-interval``): None runs none.
    cluster_audit: AuditOptions | None = None
    # With several worker processes (``serve --workers``): where each answers its metrics,
    # so that ``/metrics`` merges them all; None for one process.
    workers: Workers | None = None
    # Replaceable edges (tests): how rules are read, what time it is, where audit lines go.
    rules_loader: RulesLoader | None = None
    clock: Callable[[], datetime] = _utc_now
    audit_sink: Callable[[bytes], None] = _stdout_lines

    @property
    def uses_cluster(self) -> bool:
        return self.in_cluster or self.kubeconfig is not None

    def loader(self) -> RulesLoader:
        loader = self.rules_loader or _default_loader(self.own_namespace)
        # Every worker trusts the controller's account, though only the first runs it: the
        # API server sends the controller's writes to whichever worker it reaches.
        if self.controller_account:
            return trusting(loader, self.controller_account)
        return loader
