"""What users feel: a pod create through the API server, with and without egressguard.

``python -m bench.podcreate [--pods 150] [--rounds 4] [--workers 1] [--label NAME]``

A fresh e2e control plane (etcd, kube-apiserver, kube-controller-manager), egressguard
serving the example rules behind deploy/'s webhook configurations, and the example teams'
namespaces. The developer creates pods in ``shop`` one after another (each granted
Stripe, so ``/mutate`` patches its entitlement label and ``/validate`` judges it), timed
around the create call from the client. Rounds rotate three phases: deploy/'s webhook
configurations pointing at egressguard, deleted, and pointing at the null webhook
(``bench/null.py``: the same TLS listener answering ``allowed`` with no work), each phase
starting only once the API server's answers show the change, so all figures come from the
same cluster over the same minutes. The null webhook is the floor: what two webhook calls
cost however fast the webhook is.

Besides the client's latencies, the run reads egressguard's audit log for the calls each
pod cost and the server's own time per call, and the API server's connections to the
webhook port, so that the time added splits into egressguard's and the rest (the API
server building and sending two AdmissionReviews and applying the patch).
Results: ``results/podcreate-<label>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from webhook.controller.cluster import load_configuration

RESULTS = Path(__file__).with_name("results")
NAMESPACE = "shop"
SWITCH_TIMEOUT = 60.0
ENTITLEMENT_PREFIX = "egressguard.io/allow-"


def _pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "checkout"},
                     "annotations": {"egressguard.io/egress": "api.stripe.com:443"}},
        "spec": {"serviceAccountName": "checkout",
                 "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
    }


class Creator:
    """Creates pods as the developer, timing each call."""

    def __init__(self, kubeconfig: Path) -> None:
        self.api = k8s.CoreV1Api(k8s.ApiClient(load_configuration(str(kubeconfig))))
        self.count = 0

    def create(self) -> tuple[float, dict[str, Any]]:
        self.count += 1
        name = f"bench-{self.count:06d}"
        body: Any = _pod(name)  # the client sends a plain dict as it is
        started = time.perf_counter()
        reply: Any = self.api.create_namespaced_pod(NAMESPACE, body, _preload_content=False)
        seconds = time.perf_counter() - started
        created: dict[str, Any] = json.loads(reply.data)
        return seconds, created

    def phase(self, pods: int) -> tuple[list[float], list[str]]:
        latencies, names = [], []
        for _ in range(pods):
            seconds, created = self.create()
            latencies.append(seconds)
            names.append(created["metadata"]["name"])
        return latencies, names


def start_null(cluster: Any, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The null webhook (``bench/null.py``) with egressguard's certificate."""
    processes: Any = importlib.import_module("tests.e2e.processes")
    port = processes.free_port()
    certs = cluster.webhook.cert_dir
    log = (workdir / "null.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.null", "--cert", str(certs / "tls.crt"),
         "--key", str(certs / "tls.key"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=log)
    url = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cadata=cluster.webhook.ca_pem.decode())
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", context=context, timeout=2):
                return process, url
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the null webhook did not start") from None
            time.sleep(0.2)


def _patched(created: dict[str, Any]) -> bool:
    labels = created["metadata"].get("labels") or {}
    return any(key.startswith(ENTITLEMENT_PREFIX) for key in labels)


MUTATE_WEBHOOK = "pods.mutate.egressguard.io"


def _mutate_calls(cluster: Any) -> float:
    return apiserver_sums(cluster).get(MUTATE_WEBHOOK, (0.0, 0.0))[1]


def switch(cluster: Any, creator: Creator, target: str, null_url: str) -> None:
    """Points deploy/'s webhook configurations at ``target`` (egressguard, the null
    webhook) or deletes them (none); returns once the API server's answers show it."""
    if target == "none":
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            cluster.admin.run("delete", kind, "egressguard", "--ignore-not-found", check=True)
    else:
        cluster_module: Any = importlib.import_module("tests.e2e.webhook_process")
        url = cluster.webhook.base_url if target == "egressguard" else null_url
        cluster_module.register(cluster.admin, cluster.manifests, base_url=url,
                                ca_bundle=cluster.webhook.ca_pem)
    deadline = time.monotonic() + SWITCH_TIMEOUT
    while True:
        before = _mutate_calls(cluster)
        created = creator.create()[1]
        called = _mutate_calls(cluster) > before
        if called == (target != "none") and _patched(created) == (target == "egressguard"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API server did not switch to {target}")
        time.sleep(0.2)
    for _ in range(5):  # a few more, so that the first timed call is not a cold one
        creator.create()


def _ms(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1000, 2)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of ``pids`` and their descendants."""
    total, queue = 0, list(pids)
    while queue:
        pid = queue.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for task in Path(f"/proc/{pid}/task").iterdir():
                queue.extend(int(child) for child in (task / "children").read_text().split())
    return total / CLOCK_TICKS


def _connections(port: int) -> int:
    """Established TCP connections to ``port`` on this machine (the API server's)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "01":
                count += 1
    return count


WEBHOOK_SECONDS = "apiserver_admission_webhook_admission_duration_seconds"
REQUEST_SECONDS = "apiserver_request_duration_seconds"


def apiserver_sums(cluster: Any) -> dict[str, tuple[float, float]]:
    """(sum, count) of the API server's own timings: each egressguard webhook call as the
    API server sees it, and the pod creates it served."""
    text = cluster.admin.run("get", "--raw", "/metrics", check=True).stdout
    sums: dict[str, list[float]] = {}
    for line in text.splitlines():
        if line.startswith(WEBHOOK_SECONDS + "_"):
            name = re.search(r'name="([^"]+)"', line)
            key = name.group(1) if name and "egressguard" in name.group(1) else None
        elif line.startswith(REQUEST_SECONDS + "_") and 'resource="pods"' in line \
                and 'verb="POST"' in line and 'subresource=""' in line:
            key = "pods POST"
        else:
            continue
        if key is None:
            continue
        part = line.split("{", 1)[0].rsplit("_", 1)[1]
        if part in ("sum", "count"):
            sums.setdefault(key, [0.0, 0.0])[0 if part == "sum" else 1] += float(line.split()[-1])
    return {key: (total, count) for key, (total, count) in sums.items()}


def _mean_ms(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]],
             key: str) -> float | None:
    total = after.get(key, (0.0, 0.0))[0] - before.get(key, (0.0, 0.0))[0]
    count = after.get(key, (0.0, 0.0))[1] - before.get(key, (0.0, 0.0))[1]
    return round(total / count * 1000, 2) if count else None


def server_side(records: list[dict[str, Any]], names: set[str]) -> dict[str, Any]:
    """Calls per pod and the server's own time per call, from the audit log."""
    ours = [r for r in records if r.get("kind") == "Pod" and r.get("name") in names]
    by_webhook: dict[str, list[float]] = {}
    for record in ours:
        by_webhook.setdefault(record["webhook"], []).append(float(record["duration"]))
    return {
        "calls_per_pod": round(len(ours) / max(1, len(names)), 2),
        **{f"{webhook}_server_p50_ms": _ms(durations, 0.5)
           for webhook, durations in sorted(by_webhook.items())},
        **{f"{webhook}_server_p99_ms": _ms(durations, 0.99)
           for webhook, durations in sorted(by_webhook.items())},
    }


def measure(pods: int, rounds: int, serve_args: tuple[str, ...], workdir: Path) -> dict[str, Any]:
    # The e2e harness is test code: imported by name, so the bench's strict typing stops here.
    controlplane: Any = importlib.import_module("tests.e2e.controlplane")
    binaries: Any = importlib.import_module("tests.e2e.binaries")
    cluster_module: Any = importlib.import_module("tests.e2e.cluster")
    latencies: dict[str, list[float]] = {"with": [], "without": [], "null": []}
    created_with: set[str] = set()
    connections: list[int] = []
    apiserver: dict[str, list[float | None]] = {"with": [], "without": [], "null": []}
    calls: dict[str, list[float | None]] = {}
    null_calls: dict[str, list[float | None]] = {}
    cpu_per_pod: dict[str, dict[str, list[float]]] = {"with": {}, "without": {}, "null": {}}
    with controlplane.ControlPlane.started(workdir / "plane",
                                           binaries.controlplane_binaries()) as plane, \
            cluster_module.running_egressguard(plane, workdir / "egressguard",
                                               serve_args=serve_args) as cluster:
        creator = Creator(plane.kubeconfig(controlplane.DEVELOPER))
        null, null_url = start_null(cluster, workdir)
        targets = {"with": "egressguard", "without": "none", "null": "null"}
        current = ""
        watched = {"kube-apiserver": plane.apiserver.pid, "egressguard":
                   cluster.webhook.process.pid, "null webhook": null.pid, "etcd": plane.etcd.pid}
        try:
            for round_index in range(rounds):
                phases = ["with", "without", "null"]
                order = phases[round_index % 3:] + phases[:round_index % 3]
                for phase in order:
                    if current != phase:
                        switch(cluster, creator, targets[phase], null_url)
                        current = phase
                    before = apiserver_sums(cluster)
                    cpu_before = {name: cpu_seconds([pid]) for name, pid in watched.items()}
                    timed, names = creator.phase(pods)
                    for name, pid in watched.items():
                        cpu_per_pod[phase].setdefault(name, []).append(
                            round((cpu_seconds([pid]) - cpu_before[name]) / pods * 1000, 3))
                    after = apiserver_sums(cluster)
                    latencies[phase].extend(timed)
                    apiserver[phase].append(_mean_ms(before, after, "pods POST"))
                    for key in after:
                        if key != "pods POST" and phase == "with":
                            calls.setdefault(key, []).append(_mean_ms(before, after, key))
                        elif key != "pods POST" and phase == "null":
                            null_calls.setdefault(key, []).append(
                                _mean_ms(before, after, key))
                    if phase == "with":
                        created_with.update(names)
                        connections.append(_connections(cluster.webhook.port))
                    print(f"round {round_index + 1}/{rounds} {phase:<7} p50 "
                          f"{_ms(timed, 0.5):6.2f} ms p99 {_ms(timed, 0.99):6.2f} ms",
                          file=sys.stderr, flush=True)
        finally:
            null.kill()
            null.wait()
        records = cluster.webhook.audit_records()
    without, with_, nothing = latencies["without"], latencies["with"], latencies["null"]
    return {
        "benchmark": "podcreate",
        "pods_per_phase": len(with_),
        "serve_args": list(serve_args),
        "without_p50_ms": _ms(without, 0.5), "without_p99_ms": _ms(without, 0.99),
        "with_p50_ms": _ms(with_, 0.5), "with_p99_ms": _ms(with_, 0.99),
        "null_p50_ms": _ms(nothing, 0.5), "null_p99_ms": _ms(nothing, 0.99),
        "ratio_p50": round(statistics.median(with_) / statistics.median(without), 2),
        "null_ratio_p50": round(statistics.median(nothing) / statistics.median(without), 2),
        "ratio_p99": round(_ms(with_, 0.99) / _ms(without, 0.99), 2),
        "added_p50_ms": round(_ms(with_, 0.5) - _ms(without, 0.5), 2),
        "webhook_connections_after_each_phase": connections,
        "apiserver_create_mean_ms": apiserver,
        "apiserver_webhook_call_mean_ms": calls,
        "apiserver_null_call_mean_ms": null_calls,
        "cpu_ms_per_pod": {phase: {name: round(statistics.median(values), 3)
                                   for name, values in by_process.items()}
                           for phase, by_process in cpu_per_pod.items()},
        **server_side(records, created_with),
    }


def table(result: dict[str, Any]) -> str:
    return "\n".join([
        f"pod creates through the API server, {result['pods_per_phase']} each way "
        f"(serve {' '.join(result['serve_args']) or 'defaults'})",
        f"  without egressguard  p50 {result['without_p50_ms']:6.2f} ms  "
        f"p99 {result['without_p99_ms']:6.2f} ms",
        f"  with egressguard     p50 {result['with_p50_ms']:6.2f} ms  "
        f"p99 {result['with_p99_ms']:6.2f} ms",
        f"  null webhook         p50 {result['null_p50_ms']:6.2f} ms  "
        f"p99 {result['null_p99_ms']:6.2f} ms  ({result['null_ratio_p50']:.2f}x: two calls "
        "answered with no work)",
        f"  ratio                p50 {result['ratio_p50']:.2f}x    p99 {result['ratio_p99']:.2f}x"
        f"   (+{result['added_p50_ms']:.2f} ms at p50)",
        f"  egressguard calls per pod {result['calls_per_pod']}, server time per call p50: "
        f"mutate {result.get('mutate_server_p50_ms', 0)} ms, "
        f"validate {result.get('validate_server_p50_ms', 0)} ms",
        f"  as the API server times them (mean per phase): creates without "
        f"{result['apiserver_create_mean_ms']['without']} ms, with "
        f"{result['apiserver_create_mean_ms']['with']} ms; each egressguard call "
        f"{result['apiserver_webhook_call_mean_ms']} ms; each null call "
        f"{result['apiserver_null_call_mean_ms']} ms",
        "  CPU milliseconds per pod create (median of the phases): " + "; ".join(
            f"{phase}: " + ", ".join(f"{name} {ms}" for name, ms in by_process.items())
            for phase, by_process in result["cpu_ms_per_pod"].items()),
        f"  API server connections to the webhook port: "
        f"{result['webhook_connections_after_each_phase']}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.podcreate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=150, help="pods per phase and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--label", default="latest")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="egressguard-podcreate-") as workdir:
        result = measure(args.pods, args.rounds, ("--workers", str(args.workers)),
                         Path(workdir))
    print(table(result))
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"podcreate-{args.label}.json").write_text(
        json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
