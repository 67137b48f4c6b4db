"""What the controller and the periodic audit are told to do: plain values, no client.

Kept apart from the modules that talk to the API server, so that a server started without
``--reconcile`` or ``--audit-interval`` never imports the Kubernetes client.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from webhook.render import RenderMode, RenderOptions

# The Leases that elect the replica running the controller, and the one running the
# periodic audit: either may lead on any replica.
CONTROLLER_LEASE_NAME = "egressguard-controller"
AUDIT_LEASE_NAME = "egressguard-audit"
# The controller's client: requests a second, and the burst its token bucket allows.
DEFAULT_QPS = 20.0
DEFAULT_BURST = 40


def default_identity() -> str:
    """Who holds the Lease: the pod's name (``$POD_NAME``, else the host name) and the
    process, so that a restarted replica is a new candidate."""
    name = os.environ.get("POD_NAME") or socket.gethostname()
    return f"{name}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class LeaseTerms:
    name: str
    namespace: str
    identity: str
    lease_seconds: int = 15  # whole seconds: the Lease stores an integer
    renew_seconds: float = 10.0
    retry_seconds: float = 2.0


def lease_terms(name: str, namespace: str, lease_seconds: int) -> LeaseTerms:
    """A Lease held ``lease_seconds``, renewed within two thirds of that, tried again
    every 2 s for the 15 s default (at most once a second); held by this process."""
    return LeaseTerms(name, namespace, default_identity(), lease_seconds,
                      renew_seconds=lease_seconds * 2 / 3,
                      retry_seconds=max(lease_seconds / 7.5, 1.0))


@dataclass(frozen=True, slots=True)
class ControllerOptions:
    mode: RenderMode
    options: RenderOptions
    lease: LeaseTerms
    resync_seconds: float = 300.0
    qps: float = DEFAULT_QPS
    burst: int = DEFAULT_BURST


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """``serve --audit-interval``."""

    interval_seconds: float
    lease: LeaseTerms
