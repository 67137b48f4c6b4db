"""``serve --reconcile`` and the options of the controller it starts."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from webhook.cli import envoy_options
from webhook.cli.moments import now_option
from webhook.cli.options import positive_int, positive_seconds
from webhook.controller.options import (
    CONTROLLER_LEASE_NAME,
    DEFAULT_BURST,
    DEFAULT_QPS,
    ControllerOptions,
    lease_terms,
)
from webhook.render import RenderMode, RenderOptions
from webhook.render.plan import ISTIOCTL_GATEWAY_PORTS, FenceKind

# kubernetes.leaderelection retries at most once a second and renews before two thirds of
# the Lease have passed, so a Lease shorter than this cannot be kept.
MIN_LEASE_SECONDS = 3


def add_arguments(parser: Any) -> None:
    group = parser.add_argument_group(
        "controller", "keep the cluster in step with the rules (needs a cluster)")
    group.add_argument(
        "--reconcile", action="store_true",
        help="apply what render writes for the served rules, the fence in every judged "
        "namespace included, prune what the rules no longer produce, and render again on "
        "rules changes, expiries and drift (one leader among the replicas)")
    group.add_argument("--reconcile-mode", choices=[mode.value for mode in RenderMode],
                       default=RenderMode.ISTIO_SIDECAR.value,
                       help="the data plane to render for (default %(default)s)")
    group.add_argument("--reconcile-fence", choices=[kind.value for kind in FenceKind],
                       default=FenceKind.NAMESPACES.value,
                       help="how the fence is written (default %(default)s)")
    envoy_options.add_arguments(group)
    group.add_argument("--lease-namespace", default=None, metavar="NS",
                       help="where the controller's Lease lives (default --own-namespace)")
    group.add_argument("--lease-seconds", type=positive_int, default=15,
                       metavar="SECONDS", help="Lease duration: how long a dead leader "
                       "holds the controller (default %(default)s)")
    group.add_argument("--reconcile-qps", type=positive_seconds, default=DEFAULT_QPS,
                       metavar="N", help="API requests a second at most (default %(default)s)")
    group.add_argument("--reconcile-burst", type=positive_int, default=DEFAULT_BURST,
                       metavar="N", help="API requests at once at most (default %(default)s)")
    group.add_argument("--resync-seconds", type=positive_seconds, default=300.0,
                       metavar="SECONDS", help="reconcile at least this often "
                       "(default %(default)s)")
    group.add_argument(
        "--controller-service-account", default=os.environ.get("EGRESSGUARD_SERVICE_ACCOUNT"),
        metavar="NS:NAME", help="the service account the controller runs as (default "
        "$EGRESSGUARD_SERVICE_ACCOUNT): the webhook trusts it, and only it, so that its "
        "applies are admitted; only with --reconcile")
    # Tests only: the clock starts at this time and runs on from there.
    group.add_argument("--clock-start", type=now_option, default=None, help=argparse.SUPPRESS)


def running_clock(start: datetime | None) -> Callable[[], datetime] | None:
    """A clock that reads ``start`` now and runs on in real time; None for the real one."""
    if start is None:
        return None
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


def controller_options(args: argparse.Namespace) -> ControllerOptions | None:
    """The controller's options, or None without ``--reconcile``; ValueError when the
    Lease has nowhere to live."""
    if not args.reconcile:
        return None
    namespace = args.lease_namespace or args.own_namespace
    if not namespace:
        raise ValueError("--reconcile: give --lease-namespace (or --own-namespace, or "
                         "$POD_NAMESPACE) for the controller's Lease")
    lease = int(args.lease_seconds)
    if lease < MIN_LEASE_SECONDS:
        raise ValueError(f"--lease-seconds {lease}: give at least {MIN_LEASE_SECONDS} "
                         "(the Lease is renewed every second at the most often)")
    return ControllerOptions(
        mode=RenderMode(args.reconcile_mode),
        options=RenderOptions(
            now=datetime.now(UTC),
            gateway_pod_ports=dict(ISTIOCTL_GATEWAY_PORTS),
            fence=FenceKind(args.reconcile_fence),
            **envoy_options.render_options(args),
        ),
        lease=lease_terms(CONTROLLER_LEASE_NAME, namespace, lease),
        resync_seconds=float(args.resync_seconds),
        qps=float(args.reconcile_qps),
        burst=int(args.reconcile_burst),
    )


def controller_account(args: argparse.Namespace) -> str | None:
    """``namespace:name`` of the controller's service account, or None; ValueError when
    it is given without --reconcile or is not of that form."""
    account: str | None = args.controller_service_account
    if not account:
        return None
    if not args.reconcile:
        raise ValueError("--controller-service-account is trusted only for the controller: "
                         "give it with --reconcile, or leave it out")
    namespace, _, name = account.partition(":")
    if not namespace or not name or ":" in name:
        raise ValueError(f"--controller-service-account {account!r}: give NAMESPACE:NAME")
    return account
