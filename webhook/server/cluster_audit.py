"""Starting the periodic audit with the server when ``--audit-interval`` asks for it.

The audit runs in its own threads (the Kubernetes client blocks) and judges with the
served rules snapshot, so it always audits with what the webhook enforces.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from webhook.controller.options import DEFAULT_BURST, DEFAULT_QPS
from webhook.model.rules import Policy
from webhook.server.keys import METRICS, RULES, SETTINGS
from webhook.server.leader_loop import leader_loop

if TYPE_CHECKING:
    from webhook.audit.auditor import Auditor
    from webhook.controller.cluster import CountingApiClient

log = logging.getLogger("egressguard.audit")


async def cluster_auditing(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    options = settings.cluster_audit
    if options is None:
        yield
        return
    from webhook.audit.auditor import Auditor

    rules = app[RULES]

    def policy() -> Policy | None:
        snapshot = rules.snapshot
        return snapshot.policy if snapshot is not None else None

    def auditor(api: CountingApiClient) -> Auditor:
        return Auditor(api, options, policy, settings.clock, app[METRICS].registry)

    started = (f"periodic audit started: every {options.interval_seconds:.0f} s, "
               f"lease {options.lease.namespace}/{options.lease.name}")
    async with leader_loop(app, auditor, qps=DEFAULT_QPS, burst=DEFAULT_BURST, log=log,
                           started=started):
        yield
