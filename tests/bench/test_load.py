"""The load generator against the null webhook: tiny, bounded runs, no timing assertions."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.reviews import pod_mix, write_bodies
from bench.servers import Certificates, Server, make_certificates, start_null


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("load")


@pytest.fixture(scope="module")
def certificates(workdir: Path) -> Certificates:
    return make_certificates(workdir / "certs")


@pytest.fixture(scope="module")
def null(workdir: Path, certificates: Certificates) -> Iterator[Server]:
    server = start_null(certificates, workdir)
    try:
        server.wait_ready(timeout=30)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bodies(workdir: Path) -> Path:
    return write_bodies(workdir / "pods.jsonl", pod_mix(20))


def load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.load", *args], capture_output=True,
                          text=True, timeout=60)


def run(server: Server, bodies: Path, *args: str) -> dict[str, Any]:
    done = load("--url", server.url, "--ca", str(server.certificates.ca),
                "--bodies", str(bodies), *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def test_an_open_loop_run_sends_the_requests_due_and_all_are_answered(
    null: Server, bodies: Path
) -> None:
    result = run(null, bodies, "--rate", "100", "--duration", "5", "--max-requests", "50")
    assert result["mode"] == "open"
    assert result["sent"] == result["completed"] == 50
    assert result["errors"] == 0
    latency = result["latency_ms"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["p999"] <= latency["max"]


def test_latency_counts_from_the_intended_time_so_it_includes_the_send_lag(
    null: Server, bodies: Path
) -> None:
    result = run(null, bodies, "--rate", "100", "--duration", "0.3")
    assert result["sent"] == 30
    assert result["latency_ms"]["max"] >= result["service_ms"]["max"] * 0.99


def test_a_closed_loop_run_stops_at_its_request_count(null: Server, bodies: Path) -> None:
    result = run(null, bodies, "--rate", "0", "--duration", "5", "--max-requests", "30",
                 "--connections", "4")
    assert result["mode"] == "closed"
    assert result["completed"] == result["sent"] <= 30
    assert result["errors"] == 0


def test_the_server_answers_each_review_for_its_own_uid(null: Server, bodies: Path) -> None:
    body = bodies.read_bytes().split(b"\n")[0]
    status, answer = null.request("POST", "/mutate", body)
    assert status == 200
    response = orjson.loads(answer)["response"]
    assert response == {"uid": orjson.loads(body)["request"]["uid"], "allowed": True}


def test_unanswered_requests_are_errors_and_the_run_still_ends(bodies: Path) -> None:
    from bench.servers import free_port

    port = free_port()  # nothing listens there
    done = load("--url", f"https://127.0.0.1:{port}/mutate", "--bodies", str(bodies),
                "--rate", "50", "--duration", "0.2", "--connections", "1",
                "--max-connections", "1", "--timeout", "1")
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)
    assert result["errors"] >= result["sent"] == 10


def test_only_this_machine_is_a_target(bodies: Path) -> None:
    done = load("--url", "https://192.0.2.1:443/mutate", "--bodies", str(bodies),
                "--rate", "10", "--duration", "0.1")
    assert done.returncode != 0
    assert "loopback" in done.stderr
