"""Reconcile time and API requests of ``serve --reconcile``, against the e2e control plane.

    python -m bench.reconcile                      # 10 and 10,000 destinations
    python -m bench.reconcile --destinations 10 1000 --qps 100 --burst 200

For each size, a fresh control plane (etcd, kube-apiserver, kube-controller-manager of
tests/e2e, with the CRDs), the bench corpus of that many destinations, and the controller's
own Reconciler (istio-sidecar, a fence per namespace) run twice: the first reconcile creates
everything; the second, with nothing changed, is the baseline of the same run (what a
resync or a rules change that touches nothing costs). Every request passes the client's
token bucket (--qps, --burst), which keeps the run well inside the API server's limits
(its default max-mutating-requests-inflight is 200). Bounded: one pass per size.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.corpus import SIZES, repository
from webhook.controller.cluster import Cluster, CountingApiClient, TokenBucket, load_configuration
from webhook.controller.controller import Reconciler
from webhook.loader import load_repository
from webhook.render import RenderMode, RenderOptions

RESULTS = Path(__file__).parent / "results"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _grants_for(destinations: int) -> int:
    return next((grants for grants, size in SIZES if size == destinations), destinations)


def measure(destinations: int, qps: float, burst: int, workdir: Path) -> list[dict[str, Any]]:
    # The e2e harness is test code: imported by name, so the bench's strict typing stops here.
    controlplane: Any = importlib.import_module("tests.e2e.controlplane")
    binaries: Any = importlib.import_module("tests.e2e.binaries")
    crds: Any = importlib.import_module("tests.e2e.crds")
    policy = load_repository(repository(_grants_for(destinations), destinations)).policy
    with controlplane.ControlPlane.started(workdir, binaries.controlplane_binaries()) as plane:
        crds.install_crds(plane)
        admin = plane.kubectl(controlplane.ADMIN)
        for gateway in policy.config.gateways:
            admin("create", "namespace", gateway.namespace)
        for namespace in sorted({grant.namespace for grant in policy.grants}):
            admin("create", "namespace", namespace)
        api = CountingApiClient(load_configuration(str(plane.kubeconfig(controlplane.ADMIN))),
                                TokenBucket(qps, burst))
        reconciler = Reconciler(Cluster(api), RenderMode.ISTIO_SIDECAR, RenderOptions(now=NOW))
        rows = []
        for run in ("first (creates everything)", "no change (baseline)"):
            outcome = reconciler.reconcile(policy, NOW)
            rows.append({"destinations": destinations, "grants": len(policy.grants),
                         "run": run, "applied": outcome.applied,
                         "unchanged": outcome.unchanged,
                         "requests": outcome.requests, "seconds": round(outcome.seconds, 2),
                         "requests_per_second": round(outcome.requests / outcome.seconds, 1)})
            print(_row(rows[-1]), file=sys.stderr, flush=True)
        return rows


def _row(row: dict[str, Any]) -> str:
    return (f"| {row['destinations']:>6} | {row['run']:<27} | {row['applied']:>7} | "
            f"{row['unchanged']:>9} | "
            f"{row['requests']:>8} | {row['seconds']:>8.2f} | {row['requests_per_second']:>6} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--destinations", type=int, nargs="+", default=[10, 10_000])
    parser.add_argument("--qps", type=float, default=100.0)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.time()
    rows: list[dict[str, Any]] = []
    print("| destinations | run | applied | unchanged | requests | seconds | req/s |\n"
          "|---:|---|---:|---:|---:|---:|---:|", file=sys.stderr)
    for size in args.destinations:
        with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as workdir:
            rows += measure(size, args.qps, args.burst, Path(workdir))
    name = "reconcile-" + "-".join(str(size) for size in args.destinations) + ".json"
    result = {"qps": args.qps, "burst": args.burst, "mode": "istio-sidecar",
              "wall_seconds": round(time.time() - started, 1), "rows": rows}
    (args.results / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.results / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
