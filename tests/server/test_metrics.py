"""What an operator's Prometheus reads: decisions by namespace and code, the process and
Python collectors, the rules-reload state, and /metrics over plain HTTP on a port of its
own."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from webhook.server.metrics import MAX_NAMESPACES, Metrics
from webhook.server.metrics_listener import start_metrics_listener

from . import reviews
from .conftest import Server, StartServer


async def test_decisions_and_violations_are_counted_by_namespace_and_code(
    start_server: StartServer,
) -> None:
    server = await start_server(namespace_modes={"sandbox": "warn"})
    await server.post("/validate", reviews.pod_review(reviews.host_network_pod()))
    await server.post("/mutate", reviews.pod_review(reviews.host_network_pod()))
    warned = reviews.pod(namespace="sandbox", hostNetwork=True)
    await server.post("/validate", reviews.pod_review(warned))
    await server.post("/validate", reviews.pod_review(reviews.stripe_pod()))
    assert await server.metric("egressguard_admission_violations_total", {
        "code": "host-network", "resource_namespace": "shop", "mode": "enforce",
        "decision": "denied"}) == 1  # the mutating webhook's answer is not counted again
    assert await server.metric("egressguard_admission_violations_total", {
        "code": "host-network", "resource_namespace": "sandbox", "mode": "warn",
        "decision": "allowed"}) == 1
    assert await server.metric("egressguard_admission_decisions_total", {
        "resource_namespace": "shop", "decision": "allowed", "mode": "enforce"}) == 1
    assert await server.metric("egressguard_admission_decisions_total", {
        "resource_namespace": "shop", "decision": "denied", "mode": "enforce"}) == 1


def test_namespace_labels_cannot_be_grown_without_bound_by_a_client() -> None:
    metrics = Metrics()
    assert metrics.namespace_label("Not_A_Namespace") == "other"
    assert metrics.namespace_label("x" * 64) == "other"
    assert metrics.namespace_label("") == ""
    for index in range(MAX_NAMESPACES):
        assert metrics.namespace_label(f"ns-{index}") == f"ns-{index}"
    assert metrics.namespace_label("one-more") == "other"
    assert metrics.namespace_label("ns-7") == "ns-7"


async def test_process_and_python_collectors_are_exported(server: Server) -> None:
    text = (await server.get("/metrics")).body.decode()
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total",
                 "process_open_fds", "python_info", "python_gc_collections_total"):
        assert f"\n{name}" in text, name


async def test_rules_that_stop_loading_are_reported_until_they_load_again(
    start_server: StartServer, rules_dir: Path,
) -> None:
    server = await start_server(watch=True)
    assert await server.metric("egressguard_rules_reload_failing") == 0
    config = rules_dir / "config.yaml"
    good = config.read_text()
    config.write_text("apiVersion: egressguard.io/v1alpha1\nkind: Config\nspec: [\n")
    assert await wait_for(server, "egressguard_rules_reload_failing", 1)
    assert await server.metric("egressguard_reload_errors_total", {"what": "rules"}) == 1
    config.write_text(good)  # the same revision as served: no new generation, yet healed
    assert await wait_for(server, "egressguard_rules_reload_failing", 0)
    assert await server.metric("egressguard_rules_generation") == 1


async def wait_for(server: Server, name: str, value: float) -> bool:
    for _ in range(200):  # bounded: 10 s
        if await server.metric(name) == value:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_metrics_are_served_over_plain_http_on_their_own_port(server: Server) -> None:
    await server.post("/validate", reviews.pod_review(reviews.host_network_pod()))
    listener = await start_metrics_listener(server.running.app, host="127.0.0.1", port=0)
    try:
        def fetch(path: str) -> tuple[int, str, str]:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(f"http://127.0.0.1:{listener.port}{path}", timeout=5) as r:
                    return r.status, r.headers["Content-Type"], r.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, "", error.read().decode()

        status, content_type, body = await asyncio.to_thread(fetch, "/metrics")
        assert status == 200 and content_type.startswith("text/plain")
        assert 'egressguard_admission_violations_total{code="host-network"' in body
        assert (await asyncio.to_thread(fetch, "/mutate"))[0] == 404
        assert (await asyncio.to_thread(fetch, "/readyz"))[0] == 404
    finally:
        await listener.stop()


def test_serve_metrics_port_serves_plain_http_metrics(tmp_path: Path) -> None:
    """The command line wires --metrics-port through to a running listener (one worker's
    own; the supervisor's merged one is in test_workers)."""

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    port, metrics_port = free_port(), free_port()
    rules = Path(__file__).resolve().parents[2] / "rules"
    proc = subprocess.Popen(
        [sys.executable, "-m", "webhook", "serve", "--rules", str(rules), "--host",
         "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics_port),
         "--cert-dir", str(tmp_path / "certs"), "--namespaces", "none", "--log-format", "json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        body = ""
        deadline = time.monotonic() + 60  # starting takes seconds on a busy machine
        while time.monotonic() < deadline and not body:
            try:
                with opener.open(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.2)
        assert "egressguard_rules_generation 1.0" in body
        assert "process_resident_memory_bytes" in body
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    events = [json.loads(line) for line in err.splitlines()]
    assert any(f"metrics on http://127.0.0.1:{metrics_port}/metrics" in e["message"]
               for e in events)
