"""Starting the periodic audit with the server when ``--audit-interval`` asks for it.

The audit runs in its own threads (the Kubernetes client blocks) and judges with the
served rules snapshot, so it always audits with what the webhook enforces.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from webhook.controller.options import DEFAULT_BURST, DEFAULT_QPS
from webhook.model.rules import Policy
from webhook.server.keys import METRICS, RULES, SETTINGS

log = logging.getLogger("egressguard.audit")


async def cluster_auditing(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    options = settings.cluster_audit
    if options is None:
        yield
        return
    # The Kubernetes client is imported only by a server that talks to the API server.
    from webhook.audit.auditor import Auditor
    from webhook.controller.cluster import CountingApiClient, TokenBucket, load_configuration

    rules = app[RULES]

    def policy() -> Policy | None:
        snapshot = rules.snapshot
        return snapshot.policy if snapshot is not None else None

    api = CountingApiClient(load_configuration(settings.kubeconfig),
                            TokenBucket(DEFAULT_QPS, DEFAULT_BURST))
    auditor = Auditor(api, options, policy, settings.clock, app[METRICS].registry)
    auditor.start()
    log.info("periodic audit started: every %.0f s, lease %s/%s", options.interval_seconds,
             options.lease.namespace, options.lease.name)
    yield
    auditor.stop()
