"""One leader among the replicas, through a ``coordination.k8s.io`` Lease.

``kubernetes.leaderelection`` holds the Lease; this loop runs it again whenever it ends
(leadership lost, or the API server unreachable) until ``stop`` is set. The controller and
the periodic audit each elect through their own Lease, so either may lead on any replica.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from webhook.controller.options import LeaseTerms

log = logging.getLogger("egressguard.controller")
# The election logs every retry at INFO; its warnings and errors still show.
logging.getLogger("leaderelection").setLevel(logging.WARNING)


def run_election(terms: LeaseTerms, *, on_lead: Callable[[], None],
                 on_follow: Callable[[], None], stop: threading.Event) -> None:
    """Blocks: ``on_lead`` runs (in this thread) while this replica holds the Lease;
    ``on_follow`` when it stops holding it."""
    while not stop.is_set():
        lock = LeaseLock(terms.name, terms.namespace, terms.identity)
        election = electionconfig.Config(
            lock, lease_duration=terms.lease_seconds, renew_deadline=terms.renew_seconds,
            retry_period=terms.retry_seconds, onstarted_leading=on_lead,
            onstopped_leading=on_follow)
        try:
            leaderelection.LeaderElection(election).run()
        except Exception:
            log.exception("leader election for %s/%s failed; trying again",
                          terms.namespace, terms.name)
        stop.wait(terms.retry_seconds)
