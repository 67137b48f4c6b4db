"""``/metrics`` over plain HTTP on a port of its own, for Prometheus to scrape without the
webhook's certificate authority (``serve --metrics-port``). The webhook's HTTPS port keeps
serving ``/metrics`` too; both expose the same registry (with several workers, all of
theirs merged: :mod:`webhook.server.worker_metrics`).

A few values are read at scrape time rather than kept up to date: whether the namespace
cache is synced, and whether the rules on disk currently fail to load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from webhook.server.keys import CONNECTIONS, METRICS, NAMESPACES, RULES, SETTINGS
from webhook.server.metrics import CONTENT_TYPE, Metrics
from webhook.server.worker_metrics import merged_exposition, samples_of

log = logging.getLogger("egressguard.metrics")
WEBHOOK = web.AppKey("webhook", web.Application)


def refreshed(app: web.Application) -> Metrics:
    """The webhook app's metrics, with the scrape-time values refreshed."""
    registry = app[METRICS]
    registry.namespace_cache_synced.set(1 if app[NAMESPACES].synced else 0)
    rules = app[RULES]
    registry.rules_reload_failing.set(1 if rules.last_error or rules.snapshot is None else 0)
    registry.open_connections.set(len(app[CONNECTIONS]))
    return registry


async def exposition(app: web.Application) -> web.Response:
    """``/metrics``: this process's, or with several workers every worker's, merged."""
    workers = app[SETTINGS].workers
    if workers is None:
        body = refreshed(app).exposition()
    else:
        body = await merged_exposition(workers)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def worker_samples(app: web.Application) -> bytes:
    """This worker's samples, for whoever merges the workers' metrics."""
    return samples_of(refreshed(app).registry)


async def _metrics(request: web.Request) -> web.Response:
    return await exposition(request.app[WEBHOOK])


async def _other(request: web.Request) -> web.Response:
    return web.Response(status=404, text="only /metrics is served on this port\n")


@dataclass(slots=True)
class MetricsListener:
    runner: web.AppRunner
    site: web.TCPSite

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        addresses = self.runner.addresses
        return int(addresses[0][1]) if addresses else 0

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_metrics_listener(webhook: web.Application, *, host: str,
                                 port: int) -> MetricsListener:
    """Serves ``webhook``'s metrics on http://host:port/metrics until stopped."""
    app = web.Application()
    app[WEBHOOK] = webhook
    app.router.add_get("/metrics", _metrics)
    app.router.add_route("*", "/{tail:.*}", _other)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    listener = MetricsListener(runner, site)
    log.info("metrics on http://%s:%d/metrics", host, listener.port)
    return listener
