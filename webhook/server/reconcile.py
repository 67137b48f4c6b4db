"""Starting the controller with the server when ``--reconcile`` asks for it.

The controller runs in its own threads (the Kubernetes client blocks); it reads the
served rules snapshot, so a rules reload is a reconcile.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from webhook.model.rules import Policy
from webhook.server.keys import METRICS, RULES, SETTINGS

log = logging.getLogger("egressguard.controller")


async def reconciling(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    reconcile = settings.reconcile
    if reconcile is None:
        yield
        return
    # The Kubernetes client is imported only by a server that talks to the API server.
    from webhook.controller.cluster import (
        Cluster,
        CountingApiClient,
        TokenBucket,
        load_configuration,
    )
    from webhook.controller.controller import Controller

    rules = app[RULES]

    def policy() -> tuple[Policy, int] | None:
        snapshot = rules.snapshot
        return (snapshot.policy, snapshot.generation) if snapshot is not None else None

    configuration = load_configuration(settings.kubeconfig)
    api = CountingApiClient(configuration, TokenBucket(reconcile.qps, reconcile.burst))
    controller = Controller(Cluster(api), reconcile, policy, settings.clock,
                            app[METRICS].registry)
    controller.start()
    log.info("controller started: mode %s, lease %s/%s", reconcile.mode,
             reconcile.lease.namespace, reconcile.lease.name)
    yield
    controller.stop()
