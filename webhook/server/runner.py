"""Starting and stopping the webhook: app runner, TLS listener, signals, event loop.

On SIGTERM the server first reports not ready and keeps answering for ``drain_seconds``
(the time the Service needs to stop sending it requests), then closes the listener and
lets in-flight requests finish: a rolling update drops no admission request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from webhook.server.app import create_app
from webhook.server.keys import CERTIFICATES, CONNECTIONS, DRAINING, SETTINGS
from webhook.server.listener import TLSSite
from webhook.server.metrics_listener import (
    MetricsListener,
    start_metrics_listener,
    worker_samples,
)
from webhook.server.namespaces import NamespaceLabels
from webhook.server.settings import Settings
from webhook.server.worker_metrics import SamplesListener, start_samples_listener

log = logging.getLogger("egressguard.server")
SHUTDOWN_TIMEOUT = 10.0
ORPHAN_CHECK_SECONDS = 1.0


@dataclass(slots=True)
class RunningServer:
    app: web.Application
    runner: web.AppRunner
    site: TLSSite

    @property
    def port(self) -> int:
        return self.site.port

    @property
    def url(self) -> str:
        host = self.app[SETTINGS].host
        return f"https://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start(settings: Settings, *, namespaces: NamespaceLabels | None = None) -> RunningServer:
    """Builds the app, loads rules and certificate, and listens; returns once listening."""
    app = create_app(settings, namespaces=namespaces)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = TLSSite(
            runner,
            host=settings.host,
            port=settings.port,
            ssl_context=app[CERTIFICATES].listening_context(),
            read_timeout=settings.read_timeout,
            keepalive_timeout=settings.keepalive_timeout,
            connections=app[CONNECTIONS],
            reuse_port=settings.workers is not None,
        )
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return RunningServer(app=app, runner=runner, site=site)


async def _orphaned(parent: int, stop: asyncio.Event) -> None:
    """Sets ``stop`` when the supervisor that started this worker is gone."""
    while os.getppid() == parent:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=ORPHAN_CHECK_SECONDS)
            return
    log.error("the supervisor (process %d) is gone; stopping", parent)
    stop.set()


async def serve(settings: Settings, *, drain_seconds: float = 5.0,
                on_listening: Callable[[RunningServer], None] | None = None,
                metrics_port: int | None = None, worker: int | None = None) -> None:
    """Serves until SIGTERM or SIGINT; with ``metrics_port``, /metrics over plain HTTP there
    too (on the same host). ``worker`` is this process's index among ``settings.workers``:
    it then answers its metrics to the others and stops when its supervisor is gone."""
    server = await start(settings)
    log.info("egressguard listening on %s", server.url)
    listeners: list[MetricsListener | SamplesListener] = []
    try:
        if metrics_port is not None:
            listeners.append(await start_metrics_listener(server.app, host=settings.host,
                                                          port=metrics_port))
        if worker is not None and settings.workers is not None:
            app = server.app
            listeners.append(await start_samples_listener(
                settings.workers.address(worker), lambda: worker_samples(app)))
    except BaseException:
        await server.stop()
        for listener in listeners:
            await listener.stop()
        raise
    if on_listening is not None:
        on_listening(server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = None
    if worker is not None and settings.workers is not None:
        watcher = asyncio.create_task(_orphaned(settings.workers.group, stop))
    try:
        await stop.wait()
        log.info("stopping: answering for %.0fs more while endpoints drain", drain_seconds)
        server.app[DRAINING].set()
        await asyncio.sleep(drain_seconds)
    finally:
        await server.stop()
        for listener in listeners:
            await listener.stop()
        if watcher is not None:
            await watcher
        log.info("stopped")
