"""A loop that runs beside the server only on the replica holding its Lease.

The controller and the periodic audit are both such loops: each talks to the API server
through its own rate-limited client, runs in its own threads (the Kubernetes client
blocks), starts with the server and stops with it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from webhook.server.keys import SETTINGS

if TYPE_CHECKING:
    from webhook.controller.cluster import CountingApiClient


class LeaderLoop(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@asynccontextmanager
async def leader_loop(app: web.Application, build: Callable[[CountingApiClient], LeaderLoop],
                      *, qps: float, burst: int, log: logging.Logger,
                      started: str) -> AsyncIterator[None]:
    """Builds the loop on a client of ``qps`` requests a second (``burst`` at once), starts
    it, logs ``started``, and stops it when the server stops."""
    # The Kubernetes client is imported only by a server that talks to the API server.
    from webhook.controller.cluster import CountingApiClient, TokenBucket, load_configuration

    api = CountingApiClient(load_configuration(app[SETTINGS].kubeconfig),
                            TokenBucket(qps, burst))
    loop = build(api)
    loop.start()
    log.info("%s", started)
    yield
    loop.stop()
