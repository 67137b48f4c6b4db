"""Starting the controller with the server when ``--reconcile`` asks for it.

The controller runs in its own threads (the Kubernetes client blocks); it reads the
served rules snapshot, so a rules reload is a reconcile.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from webhook.model.rules import Policy
from webhook.server.keys import METRICS, RULES, SETTINGS
from webhook.server.leader_loop import leader_loop

if TYPE_CHECKING:
    from webhook.controller.cluster import CountingApiClient
    from webhook.controller.controller import Controller

log = logging.getLogger("egressguard.controller")


async def reconciling(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    reconcile = settings.reconcile
    if reconcile is None:
        yield
        return
    from webhook.controller.cluster import Cluster
    from webhook.controller.controller import Controller

    rules = app[RULES]

    def policy() -> tuple[Policy, int] | None:
        snapshot = rules.snapshot
        return (snapshot.policy, snapshot.generation) if snapshot is not None else None

    def controller(api: CountingApiClient) -> Controller:
        return Controller(Cluster(api), reconcile, policy, settings.clock,
                          app[METRICS].registry)

    started = (f"controller started: mode {reconcile.mode}, "
               f"lease {reconcile.lease.namespace}/{reconcile.lease.name}")
    async with leader_loop(app, controller, qps=reconcile.qps, burst=reconcile.burst, log=log,
                           started=started):
        yield
