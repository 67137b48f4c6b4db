"""The side-by-side load runs: egressguard, the null webhook and OPA, in one run.

All servers are started first and stay up; the rates are then stepped through with every
server measured at each rate before the next rate, so that drifting background load on a
shared machine falls on all of them alike. Each step is one load-generator process
(:mod:`bench.load`); the server's CPU time and latency histogram are read just before it
starts sending and just after it has its last answer.
"""

from __future__ import annotations

import base64
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.corpus import LARGEST, SMALLEST, repository
from bench.rego import QUERY_PATH, ensure_opa, write_bundle
from bench.reviews import Sample, pod_mix, write_bodies
from bench.servers import (
    Server,
    make_certificates,
    start_egressguard,
    start_null,
    start_opa,
    wait_all_ready,
)
from webhook.loader import load_repository

Log = Callable[[str], None]
SATURATION = 0  # the "rate" of the closed-loop saturation step


@dataclass(frozen=True, slots=True)
class Plan:
    rates: tuple[int, ...]
    seconds: float
    saturation_seconds: float
    saturation_connections: int
    warmup_seconds: float
    verify: int  # reviews compared between egressguard and OPA before measuring

    @classmethod
    def of(cls, *, quick: bool) -> Plan:
        if quick:
            return cls(rates=(250, 500), seconds=2.0, saturation_seconds=1.5,
                       saturation_connections=16, warmup_seconds=0.5, verify=40)
        return cls(rates=(100, 250, 500, 1000, 1500, 2000), seconds=10.0,
                   saturation_seconds=8.0, saturation_connections=16, warmup_seconds=2.0,
                   verify=400)


def verdict(body: bytes) -> tuple[bool, list[Any]]:
    """(allowed, JSONPatch operations) of an AdmissionReview response."""
    response = orjson.loads(body)["response"]
    patch = response.get("patch")
    return bool(response["allowed"]), orjson.loads(base64.b64decode(patch)) if patch else []


def verify(reference: Server, others: Sequence[Server], samples: Sequence[Sample]
           ) -> dict[str, Any]:
    """Sends each sample to every server; the verdicts and patches must all be equal."""
    mismatches: list[str] = []
    allowed = 0
    for sample in samples:
        status, body = reference.request("POST", reference.path, sample.body)
        expected = verdict(body) if status == 200 else None
        allowed += expected is not None and expected[0]
        for server in others:
            status, body = server.request("POST", server.path, sample.body)
            got = verdict(body) if status == 200 else None
            if got != expected:
                mismatches.append(f"{sample.name} ({sample.review['request']['uid']}): "
                                  f"{reference.name} {expected} but {server.name} {got}")
    return {"reviews": len(samples), "allowed": allowed, "mismatches": mismatches}


def load_step(server: Server, bodies: Path, *, rate: int, seconds: float,
              connections: int = 16) -> dict[str, Any]:
    """One load-generator run against ``server``, with the server's CPU and latency."""
    command = [sys.executable, "-m", "bench.load", "--url", server.url,
               "--ca", str(server.certificates.ca), "--bodies", str(bodies),
               "--rate", str(rate), "--duration", str(seconds),
               "--max-requests", str(max(1, int(rate * seconds)) if rate else 2_000_000),
               "--connections", str(connections), "--timeout", "10", "--wait-for-go"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as loader:
        assert loader.stdin is not None and loader.stdout is not None
        ready = loader.stdout.readline()
        if ready.strip() != b"ready":
            error = loader.stderr.read().decode() if loader.stderr else ""
            raise RuntimeError(f"the load generator did not start: {ready!r} {error[-800:]}")
        histogram_before = server.latency_histogram()
        audited_from = server.audit_position()
        cpu_before, started = server.cpu_seconds(), time.monotonic()
        loader.stdin.write(b"go\n")
        loader.stdin.flush()
        try:
            output, errors = loader.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            loader.kill()
            raise RuntimeError(f"the load generator against {server.name} hung") from None
        cpu_after, ended = server.cpu_seconds(), time.monotonic()
        histogram_after = server.latency_histogram()
    if loader.returncode != 0:
        raise RuntimeError(f"the load generator failed: {errors.decode()[-800:]}")
    result: dict[str, Any] = orjson.loads(output)
    result["server"] = server.name
    result["cpu"] = round((cpu_after - cpu_before) / (ended - started), 3)
    result.update(server.memory())
    durations = sorted(server.audit_durations(audited_from))
    if durations:
        result["server_ms"] = {name: round(exact_quantile(durations, q) * 1000, 3)
                               for name, q in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999))}
        result["server_ms"]["source"] = "audit log"
    if histogram_before is not None and histogram_after is not None:
        during = histogram_after.minus(histogram_before)
        result["histogram_ms"] = {
            "p50": during.quantile(0.5), "p99": during.quantile(0.99),
            "p999": during.quantile(0.999),
            "p99_at_most": during.bound(0.99), "p999_at_most": during.bound(0.999),
        }
        # Coarse buckets: only the bound of the bucket holding the quantile is certain.
        result.setdefault("server_ms", {"p50": during.bound(0.5), "p99": during.bound(0.99),
                                        "p999": during.bound(0.999),
                                        "source": "histogram bucket bound"})
    return result


def exact_quantile(ordered: Sequence[float], q: float) -> float:
    """The smallest value with at least ``q`` of the values at or under it."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def run(workdir: Path, *, quick: bool, log: Log = print) -> dict[str, Any]:
    plan = Plan.of(quick=quick)
    certificates = make_certificates(workdir / "certs")
    mix = pod_mix(200 if quick else 600)
    bodies = write_bodies(workdir / "pods.jsonl", mix)
    small, large = repository(*SMALLEST), repository(*LARGEST)
    opa = ensure_opa(log=log)
    servers: list[Server] = []
    try:
        # The large repository loads for a while: start it first, the rest meanwhile.
        servers.append(start_egressguard(f"egressguard-{LARGEST[0] // 1000}k", large,
                                         certificates, workdir))
        servers.append(start_egressguard("egressguard", small, certificates, workdir))
        servers.append(start_null(certificates, workdir))
        bundle = write_bundle(load_repository(small).policy, workdir / "opa-bundle")
        servers.append(start_opa(opa, bundle, certificates, workdir, query_path=QUERY_PATH))
        startup = wait_all_ready(servers, timeout=300)
        log("  servers ready: " + ", ".join(f"{k} {v} s" for k, v in startup.items()))
        large_server, ours, null, opa_server, *extra = servers
        servers = [ours, null, opa_server, large_server, *extra]  # the order of every step
        sample = _one_of_each(mix, plan.verify)
        checks = {"opa": verify(ours, [opa_server], sample),
                  large_server.name: verify(ours, [large_server, *extra], sample)}
        for name, check in checks.items():
            state = "same verdicts" if not check["mismatches"] else "MISMATCHES"
            log(f"  verified egressguard vs {name} on {check['reviews']} reviews "
                f"({check['allowed']} allowed): {state}")
            for line in check["mismatches"][:10]:
                log(f"    {line}")
        for server in servers:
            load_step(server, bodies, rate=200, seconds=plan.warmup_seconds)
        steps = []
        for rate in plan.rates:
            for server in servers:
                step = load_step(server, bodies, rate=rate, seconds=plan.seconds)
                log(f"  {server.name:<16} {rate:>5} rps: p99 {step['latency_ms']['p99']} ms, "
                    f"{step['errors']} errors, cpu {step['cpu']:.2f}")
                steps.append(step)
        for server in servers:
            step = load_step(server, bodies, rate=SATURATION, seconds=plan.saturation_seconds,
                             connections=plan.saturation_connections)
            log(f"  {server.name:<16} saturation: {step['achieved_rps']:.0f} rps, "
                f"cpu {step['cpu']:.2f}")
            steps.append(step)
        memory = {server.name: server.memory() for server in servers}
    finally:
        for server in servers:
            server.stop()
    return {
        "benchmark": "load",
        "plan": {"rates": list(plan.rates), "seconds": plan.seconds,
                 "saturation_seconds": plan.saturation_seconds,
                 "saturation_connections": plan.saturation_connections},
        "workload": f"{len(mix)} controller-created pod CREATEs, "
                    f"{min(map(len, (s.body for s in mix))) // 1024}-"
                    f"{max(map(len, (s.body for s in mix))) // 1024} KiB, "
                    f"{sum(1 for s in mix if '/denied' in s.name)} refused",
        "rules": {"egressguard": f"{SMALLEST[0]} grants", "opa": f"{SMALLEST[0]} grants",
                  large_server.name: f"{LARGEST[0]:,} grants, {LARGEST[1]:,} destinations"},
        "large": large_server.name,
        "startup_seconds": startup,
        "verification": checks,
        "steps": steps,
        "memory": memory,
    }


def _one_of_each(samples: Sequence[Sample], count: int) -> list[Sample]:
    """Every case of the mix at least once, then the rest in order, ``count`` in all."""
    chosen: dict[str, Sample] = {}
    for sample in samples:
        chosen.setdefault(sample.name, sample)
    rest = [s for s in samples if s not in chosen.values()]
    return [*chosen.values(), *rest][:max(count, len(chosen))]
