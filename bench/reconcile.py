"""Reconcile time and API requests of ``serve --reconcile``, against the e2e control plane.

    python -m bench.reconcile                      # 10 and 10,000 destinations, side by side
    python -m bench.reconcile --destinations 10 1000 --qps 100 --burst 200

For each size, a fresh control plane (etcd, kube-apiserver, kube-controller-manager of
tests/e2e, with the CRDs), the bench corpus of that many destinations, and the controller's
own Reconciler (istio-sidecar, a fence per namespace) run four times: the first reconcile
creates everything; the second, with nothing changed, is what a resync costs; the third
follows a rules change that changes no rendered object (a new revision, as when a grant's
reason is reworded), which sends nothing either; the fourth is a new leader's first
reconcile (a fresh Reconciler, which remembers nothing it applied, so it knows what is in
step from the listed objects alone: their digest annotation, field managers and content) on
the same unchanged cluster: what a takeover or a rolling update costs.

Every request passes the client's token bucket (--qps, --burst); the bench also records the
most requests sent in any one second, so the table shows the run stayed inside that limit
(and far inside the API server's own: max-mutating-requests-inflight 200,
max-requests-inflight 400). Bounded: the objects each size creates are counted before its
control plane starts, and a size whose runs cannot finish within --max-minutes at --qps is
left out of the run, with a line saying so, rather than started.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import importlib
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from bench.corpus import SIZES, repository
from webhook.controller.cluster import Cluster, CountingApiClient, TokenBucket, load_configuration
from webhook.controller.controller import Reconciler
from webhook.controller.desired import desired_objects, judged_namespaces
from webhook.loader import load_repository
from webhook.model.rules import Policy
from webhook.render import RenderMode, RenderOptions

RESULTS = Path(__file__).parent / "results"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
MODE = RenderMode.ISTIO_SIDECAR
RUNS = (
    ("first", "first reconcile (creates everything)"),
    ("unchanged", "no change (same leader)"),
    ("reworded", "a rules change that changes no object"),
    ("new_leader", "no change, new leader"),
)
# Requests a run sends besides one apply per object: lists and the namespaces.
OVERHEAD_REQUESTS = 100


class RecordingBucket(TokenBucket):
    """The client's token bucket, keeping when each request passed it."""

    def __init__(self, qps: float, burst: int) -> None:
        super().__init__(qps, burst)
        self.sent: list[float] = []

    def take(self) -> None:
        super().take()
        self.sent.append(time.monotonic())

    def peak_per_second(self, since: int) -> int:
        """The most requests let through within any one second, from the ``since``-th on."""
        times = self.sent[since:]
        return max((bisect.bisect_right(times, t + 1.0) - i for i, t in enumerate(times)),
                   default=0)


class RecordingApiClient(CountingApiClient):
    """Also counts requests by HTTP method."""

    def __init__(self, configuration: Any, bucket: RecordingBucket) -> None:
        super().__init__(configuration, bucket)
        self.recording = bucket
        self.methods: Counter[str] = Counter()

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        method = kwargs.get("method") or (args[0] if args else "?")
        self.methods[str(method).upper()] += 1
        return super().call_api(*args, **kwargs)

    def mark(self) -> tuple[int, Counter[str]]:
        return len(self.recording.sent), Counter(self.methods)


@dataclass(frozen=True, slots=True)
class Size:
    destinations: int
    grants: int
    policy: Policy
    namespaces: tuple[str, ...]
    objects: int


def prepare(destinations: int) -> Size:
    grants = next((g for g, size in SIZES if size == destinations), destinations)
    policy = load_repository(repository(grants, destinations)).policy
    namespaces = tuple(sorted({g.namespace for g in policy.config.gateways}
                              | {grant.namespace for grant in policy.grants}))
    desired = desired_objects(policy, MODE, RenderOptions(now=NOW),
                              judged_namespaces(policy, namespaces))
    return Size(destinations, len(policy.grants), policy, namespaces, len(desired))


def estimate_seconds(size: Size, qps: float) -> float:
    """At the client's rate: the first run applies every object; every run lists."""
    return (size.objects + len(RUNS) * OVERHEAD_REQUESTS) / qps


def measure(size: Size, qps: float, burst: int, workdir: Path) -> list[dict[str, Any]]:
    # The e2e harness is test code: imported by name, so the bench's strict typing stops here.
    controlplane: Any = importlib.import_module("tests.e2e.controlplane")
    binaries: Any = importlib.import_module("tests.e2e.binaries")
    crds: Any = importlib.import_module("tests.e2e.crds")
    with controlplane.ControlPlane.started(workdir, binaries.controlplane_binaries()) as plane:
        crds.install_crds(plane)
        configuration = load_configuration(str(plane.kubeconfig(controlplane.ADMIN)))
        core = k8s.CoreV1Api(k8s.ApiClient(configuration))
        for namespace in size.namespaces:
            core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
        api = RecordingApiClient(configuration, RecordingBucket(qps, burst))
        cluster = Cluster(api)
        reconciler = Reconciler(cluster, MODE, RenderOptions(now=NOW))
        rows = []
        policy = size.policy
        for run, label in RUNS:
            if run == "new_leader":
                reconciler = Reconciler(cluster, MODE, RenderOptions(now=NOW))
            if run == "reworded":  # a new revision, say a grant's reason reworded
                policy = dataclasses.replace(policy, revision=f"{policy.revision}-reworded")
            since, before = api.mark()
            outcome = reconciler.reconcile(policy, NOW)
            _, after = api.mark()
            rows.append({
                "destinations": size.destinations, "grants": size.grants,
                "objects": outcome.applied + outcome.unchanged, "run": run, "label": label,
                "applied": outcome.applied, "unchanged": outcome.unchanged,
                "put_back": len(outcome.drifted),
                "pruned": len(outcome.pruned), "requests": outcome.requests,
                "by_method": dict(sorted((after - before).items())),
                "seconds": round(outcome.seconds, 2),
                "requests_per_second": round(outcome.requests / outcome.seconds, 1),
                "peak_requests_in_one_second": api.recording.peak_per_second(since),
            })
            print(f"{size.destinations:>6} destinations, {label}: {outcome.requests} requests "
                  f"in {outcome.seconds:.1f} s", file=sys.stderr, flush=True)
        return rows


def table(rows: list[dict[str, Any]], sizes: list[int], qps: float, burst: int) -> str:
    """One column per size, side by side."""
    by = {(row["destinations"], row["run"]): row for row in rows}
    first = {size: by.get((size, "first")) for size in sizes}
    header = "| | " + " | ".join(f"{size:,} destinations" for size in sizes) + " |"
    lines = [header, "|---|" + "---:|" * len(sizes)]

    def line(name: str, value: Any) -> None:
        cells = [value(size) for size in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    def cell(size: int, run: str, field: str, form: str = "{:,}") -> str:
        row = by.get((size, run))
        return "not run" if row is None else form.format(row[field])

    line("grants", lambda s: cell(s, "first", "grants"))
    line("objects (what render writes, a fence per namespace)",
         lambda s: cell(s, "first", "objects"))
    for run, label in RUNS:
        line(f"{label}: requests", lambda s, r=run: cell(s, r, "requests"))
        line(f"{label}: seconds", lambda s, r=run: cell(s, r, "seconds", "{:.2f}"))
        line(f"{label}: by method", lambda s, r=run: "not run" if by.get((s, r)) is None else
             ", ".join(f"{m} {n:,}" for m, n in by[(s, r)]["by_method"].items()))
    line(f"most requests in one second (bucket: {qps:g} a second, burst {burst})",
         lambda s: "not run"
         if first[s] is None else str(max(by[(s, r)]["peak_requests_in_one_second"]
                                         for r, _ in RUNS)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--destinations", type=int, nargs="+", default=[10, 10_000])
    parser.add_argument("--qps", type=float, default=100.0)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--max-minutes", type=float, default=45.0,
                        help="leave out a size whose runs would not finish by then")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.time()
    deadline = started + args.max_minutes * 60
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for destinations in args.destinations:
        size = prepare(destinations)
        estimate = estimate_seconds(size, args.qps)
        if time.time() + estimate > deadline:
            skipped.append(f"{destinations} destinations: {size.objects} objects need about "
                           f"{estimate / 60:.0f} minutes at {args.qps:g} requests a second, "
                           "past --max-minutes")
            print(skipped[-1], file=sys.stderr)
            continue
        print(f"{destinations} destinations: {size.objects} objects, about "
              f"{estimate / 60:.1f} minutes", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as workdir:
            rows += measure(size, args.qps, args.burst, Path(workdir))
    text = table(rows, args.destinations, args.qps, args.burst)
    print(text)
    name = "reconcile-" + "-".join(str(size) for size in args.destinations)
    result = {"qps": args.qps, "burst": args.burst, "mode": MODE.value,
              "wall_seconds": round(time.time() - started, 1), "skipped": skipped,
              "rows": rows}
    (args.results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.results / f"{name}.md").write_text(text + "\n")
    print(f"wrote {args.results / name}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
