"""The aiohttp application: routes, shared state, middlewares and background watchers.

``create_app(settings)`` builds everything from one Settings value; the watchers (rules,
certificate, namespace labels) start and stop with the app through ``cleanup_ctx``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from webhook.server import admission
from webhook.server.audit import AuditLog
from webhook.server.cluster_audit import cluster_auditing
from webhook.server.keys import (
    AUDIT,
    CERTIFICATES,
    CONNECTIONS,
    DRAINING,
    IN_FLIGHT,
    METRICS,
    NAMESPACES,
    OUTCOME,
    RULES,
    SETTINGS,
)
from webhook.server.limits import InFlight, responsive_loop
from webhook.server.listener import Connections, connection_limit, raise_open_files_limit
from webhook.server.metrics import Metrics
from webhook.server.metrics_listener import exposition
from webhook.server.namespaces import NamespaceLabels, WithoutCluster, from_cluster
from webhook.server.reconcile import reconciling
from webhook.server.rules import RulesState
from webhook.server.settings import Settings
from webhook.server.tls import CertificateStore

log = logging.getLogger("egressguard.server")
WATCHER_STOP_TIMEOUT = 5.0


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place an answer is accounted for: timed once (body read included), counted
    in the metrics, and written to the audit log when a review was read (decided or failed
    to judge); a body refused before it could be read as a review is logged instead.

    While draining, every answer also tells the client to close its connection, so that
    keep-alive clients reconnect to a replica that stays."""
    started = time.perf_counter()
    response = await handler(request)
    if request.app[DRAINING].is_set():
        response.force_close()
    outcome = request.get(OUTCOME)
    if outcome is None:
        return response
    seconds = time.perf_counter() - started
    verdict = outcome.verdict
    request.app[METRICS].observe(
        webhook=outcome.webhook,
        request=outcome.request,
        decision=outcome.decision,
        mode=verdict.mode.value if verdict is not None else "",
        seconds=seconds,
        codes=verdict.codes if verdict is not None else (),
    )
    if outcome.request is not None:
        request.app[AUDIT].record(
            time=request.app[SETTINGS].clock(),
            webhook=outcome.webhook,
            request=outcome.request,
            decision=verdict,
            duration_seconds=seconds,
            rules_revision=outcome.rules_revision,
            request_annotation=outcome.request_annotation,
            error=outcome.error,
        )
    else:
        log.warning("refused a %s request from %s: %s (HTTP %d)", outcome.webhook,
                    request.remote, outcome.error, response.status)
    return response


async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers. Never depends on rules, so a bad rules change does
    not get every replica restarted."""
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


async def readyz(request: web.Request) -> web.Response:
    """Ready only with rules and a certificate loaded, an audit log that is being written,
    and not shutting down.

    Anyone who reaches the port can ask, so the answer names which condition is missing and
    nothing else: no rules path, revision or error text (those are in the logs and
    metrics)."""
    app = request.app
    missing = [
        name for name, ok in (
            ("rules", app[RULES].snapshot is not None),
            ("certificate", app[CERTIFICATES].current is not None),
            ("audit", not app[AUDIT].failing),
            ("draining", not app[DRAINING].is_set()),
        ) if not ok
    ]
    body = {"ready": not missing, "missing": missing}
    return web.Response(status=503 if missing else 200, body=orjson.dumps(body),
                        content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    return await exposition(request.app)


def namespace_source(settings: Settings) -> NamespaceLabels:
    if settings.uses_cluster:
        log.info("namespace labels from the cluster of %s",
                 settings.kubeconfig or "the in-cluster service account")
        return from_cluster(settings.kubeconfig)
    return WithoutCluster()


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    certificates, rules = app[CERTIFICATES], app[RULES]
    certificates.reload()
    await rules.reload()
    app[NAMESPACES].start()
    stop = asyncio.Event()
    watchers: list[asyncio.Task[None]] = []
    if settings.watch:
        watchers = [
            asyncio.create_task(rules.watch(debounce_ms=settings.reload_debounce_ms, stop=stop),
                                name="watch-rules"),
            asyncio.create_task(
                certificates.watch(debounce_ms=settings.reload_debounce_ms, stop=stop),
                name="watch-certificate",
            ),
        ]
    yield
    stop.set()
    app[NAMESPACES].stop()
    app[IN_FLIGHT].close()
    app[AUDIT].close()
    if watchers:
        _, pending = await asyncio.wait(watchers, timeout=WATCHER_STOP_TIMEOUT)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _responsive_loop(app: web.Application) -> AsyncIterator[None]:
    with responsive_loop():
        yield


def create_app(settings: Settings, *, namespaces: NamespaceLabels | None = None) -> web.Application:
    """The webhook application. ``namespaces`` replaces the label source (tests)."""
    app = web.Application(middlewares=[observe_middleware])
    app[SETTINGS] = settings
    app[METRICS] = registry = Metrics()
    app[RULES] = RulesState(settings.rules, settings.loader(), registry, settings.clock)
    app[CERTIFICATES] = CertificateStore(settings.cert, settings.key, registry,
                                         settings.client_ca)
    app[NAMESPACES] = namespaces if namespaces is not None else namespace_source(settings)
    app[AUDIT] = AuditLog(settings.audit_sink, on_lost=registry.audit_failures.inc)
    app[IN_FLIGHT] = InFlight(settings.max_in_flight, settings.max_in_flight_bytes)
    app[CONNECTIONS] = Connections(
        settings.max_connections or connection_limit(raise_open_files_limit()),
        on_evict=registry.connections_evicted.inc,
    )
    app[DRAINING] = asyncio.Event()
    app.cleanup_ctx.append(_lifecycle)
    app.cleanup_ctx.append(_responsive_loop)
    app.cleanup_ctx.append(reconciling)
    app.cleanup_ctx.append(cluster_auditing)
    app.router.add_post("/mutate", admission.mutate)
    app.router.add_post("/validate", admission.validate)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
