"""An ordinary developer's dry-run requests never push a replica past its memory limit or
other reviews past their timeout (RELIABILITY 29).

The attacks that once took replicas down, sent at once from a process of their own to one
``egressguard serve`` with deploy/'s worker processes: four pods of ~4 MB each requesting
130,000 unknown hosts, four 3 MB pods of long escaped values, and six 3 MB EnvoyFilters.
Meanwhile ordinary reviews keep coming, each on a new connection; the memory of the
processes is sampled throughout and must stay under the deploy/ memory limit, the refusals
within the API server's limits, and the ordinary reviews sent while the attacks are in
flight must be answered within 1 s at p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from . import reviews
from .conftest import Pki
from .process import REPO, ServeProcess, serving
from .test_deploy import manifests, one
from .wire import exchange, request_bytes

pytestmark = [pytest.mark.under_load, pytest.mark.alone]

ORDINARY_CLIENTS = 2
GOAL_P99_SECONDS = 1.0
ROUNDS = 3
STARVED_SECONDS = 0.25


def deployed_container() -> dict[str, Any]:
    container: dict[str, Any] = \
        one(manifests(), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return container


def memory_limit_bytes() -> int:
    limit = deployed_container()["resources"]["limits"]["memory"]
    assert limit.endswith("Mi")
    return int(limit[:-2]) * 1024 * 1024


def deployed_workers() -> tuple[str, ...]:
    """deploy/'s ``--workers`` flag, so the container's limit covers as many processes."""
    return tuple(arg for arg in deployed_container()["args"] if arg.startswith("--workers"))


def container_memory_bytes(server: ServeProcess) -> int:
    """The memory of the server and its worker processes as their container is charged for
    it: the proportional set size, in which a page shared by several processes counts once
    (the resident sizes added up would count the shared libraries once per process)."""
    total, pids = 0, [server.process.pid]
    while pids:
        pid = pids.pop()
        with contextlib.suppress(OSError, StopIteration):
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            line = next(line for line in rollup.splitlines() if line.startswith("Pss:"))
            total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{pid}/task").iterdir():
                pids.extend(int(child) for child in (task / "children").read_text().split())
    return total


def hosts_pod() -> dict[str, Any]:
    hosts = ",".join(f"h{i}.unknown-{i % 97}.example:443" for i in range(130_000))
    return reviews.pod_review(reviews.pod("many-hosts", service_account="checkout",
                                          annotations={"egressguard.io/egress": hosts}),
                              dry_run=True)


def long_values_pod() -> dict[str, Any]:
    env = [{"name": f"V{i}", "value": "<" * 3000} for i in range(1000)]
    return reviews.pod_review(reviews.pod("long", containers=[
        {"name": "app", "image": "registry.k8s.io/pause", "env": env}]), dry_run=True)


def envoy_filter() -> dict[str, Any]:
    patches = [{"applyTo": "CLUSTER", "match": {"context": "SIDECAR_OUTBOUND"},
                "patch": {"operation": "ADD", "value": {"name": f"c{i}" + "x" * 200}}}
               for i in range(10_000)]
    obj = {"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
           "metadata": {"name": "big", "namespace": "shop"},
           "spec": {"configPatches": patches}}
    return reviews.review(obj, kind=("networking.istio.io", "v1alpha3", "EnvoyFilter"),
                          namespace="shop", name="big", dry_run=True)


# (what, how many at once, whether the object may be admitted)
ATTACKS = ((hosts_pod, 4, False), (long_values_pod, 4, True), (envoy_filter, 6, False))


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) * 0.99) - 1]


def write_attacks(workdir: Path) -> list[str]:
    """The files of the attack bodies, one per request (the same file for the same attack)."""
    files = []
    for make, count, _ in ATTACKS:
        body = orjson.dumps(make())
        assert len(body) > 2_500_000
        path = workdir / f"{make.__name__}.json"
        path.write_bytes(body)
        files += [str(path)] * count
    return files


async def flood(server: ServeProcess, files: list[str], workdir: Path) -> dict[str, Any]:
    """Sends every attack at once from another process (tests/server/flood.py)."""
    ca_file = workdir / "ca.pem"
    ca_file.write_bytes(server.pki.ca_pem)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.server.flood", str(server.port), str(ca_file), *files,
        cwd=REPO, stdout=asyncio.subprocess.PIPE)
    out, _ = await child.communicate()
    assert child.returncode == 0
    result: dict[str, Any] = orjson.loads(out)
    return result


@dataclass
class Round:
    quiet_p99: float  # ordinary reviews alone, just before
    p99: float  # ordinary reviews sent while the attacks were in flight
    reviews: int
    attack_seconds: float
    own_stall: float  # the longest the test's own event loop was late meanwhile

    @property
    def disturbed(self) -> bool:
        """The machine, not the server, was starved: the client itself was held up."""
        return self.quiet_p99 > STARVED_SECONDS or self.own_stall > STARVED_SECONDS

    def __str__(self) -> str:
        return (f"p99 {self.p99:.3f} s over {self.reviews} reviews during "
                f"{self.attack_seconds:.1f} s of attacks (quiet p99 {self.quiet_p99:.3f} s, "
                f"the test's own loop up to {self.own_stall:.3f} s late)")


async def attack_round(server: ServeProcess, files: list[str], workdir: Path) -> Round:
    """Ordinary reviews for a second alone, then during the attacks; checks the answers."""
    stop = asyncio.Event()
    timings: list[tuple[float, float]] = []  # (sent at, seconds to the answer)
    failures: list[str] = []

    async def ordinary() -> None:
        sent = request_bytes("POST", "/validate",
                             orjson.dumps(reviews.pod_review(reviews.stripe_pod())))
        while not stop.is_set():
            started = time.monotonic()
            try:
                reply = await exchange(server.port, sent, ca_pem=server.pki.ca_pem, timeout=10.0)
                if reply.json()["response"]["allowed"] is not True:
                    failures.append(str(reply.json()))
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
                failures.append(repr(error))
            timings.append((started, time.monotonic() - started))
            await asyncio.sleep(0.02)

    late: list[tuple[float, float]] = []  # (when, how late the test's loop woke up)

    async def watch_own_loop() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.01)
            late.append((before, time.monotonic() - before - 0.01))

    tasks = [asyncio.create_task(ordinary()) for _ in range(ORDINARY_CLIENTS)]
    tasks.append(asyncio.create_task(watch_own_loop()))
    await asyncio.sleep(1.0)
    quiet = [seconds for _, seconds in timings]
    sent = await flood(server, files, workdir)
    stop.set()
    await asyncio.gather(*tasks)

    assert failures == []
    expected = [(make.__name__, admissible)
                for make, count, admissible in ATTACKS for _ in range(count)]
    assert len(sent["results"]) == len(expected)
    for (name, admissible), result in zip(expected, sent["results"], strict=True):
        if result.get("closed"):
            continue  # refused before its body was read (HTTP 429 or too slow to arrive)
        if result["status"] != 200:
            assert result["status"] in (429, 503), (name, result)
            continue
        answer = orjson.loads(result["body"])["response"]
        assert admissible or answer["allowed"] is False, name
        assert len(answer.get("status", {}).get("message", "").encode()) <= 4096
    during = [seconds for started, seconds in timings
              if sent["started"] <= started <= sent["ended"]]
    assert len(during) >= 30, f"only {len(during)} ordinary reviews during the attacks"
    own_stall = max(seconds for when, seconds in late
                    if sent["started"] <= when <= sent["ended"])
    return Round(p99(quiet), p99(during), len(during), sent["ended"] - sent["started"],
                 own_stall)


async def test_dry_run_attacks_leave_the_replica_alive_and_answering(
    pki: Pki, rules_dir: Path, tmp_path: Path
) -> None:
    """Memory, liveness and the answers hold in every round. The latency goal is measured
    on CPUs shared with other work, where a neighbour's burst alone can stall a process for
    a second: a round that misses it is run again only when the same round shows the
    machine starved (the quiet baseline's p99, ~0.03 s on an idle machine, or the test's
    own event loop late by more than STARVED_SECONDS). A round that misses the goal on an
    unstarved machine fails the test; the goal itself is never relaxed."""
    limit = memory_limit_bytes()
    files = write_attacks(tmp_path)
    async with serving(pki, rules_dir, tmp_path, extra=deployed_workers()) as server:
        peak = container_memory_bytes(server)
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                with contextlib.suppress(OSError, StopIteration):
                    peak = max(peak, container_memory_bytes(server))
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        rounds: list[Round] = []
        try:
            while len(rounds) < ROUNDS:
                rounds.append(await attack_round(server, files, tmp_path))
                assert server.process.poll() is None
                assert peak < limit, f"peak {peak >> 20} MiB over the {limit >> 20} MiB limit"
                if rounds[-1].p99 < GOAL_P99_SECONDS:
                    return
                if not rounds[-1].disturbed:
                    break
        finally:
            stop.set()
            await sampler
        report = "; ".join(str(one) for one in rounds)
        if all(one.disturbed for one in rounds):
            pytest.skip(f"the machine was too busy to measure latency in any round: {report}")
        pytest.fail(f"ordinary reviews during the attacks over {GOAL_P99_SECONDS} s p99: "
                    f"{report}")
