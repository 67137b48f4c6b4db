"""Closed-loop load with wrk: a C load generator, so the cores go to the server under test.

wrk (epoll, OpenSSL) keeps ``connections`` requests in flight for ``seconds``, POSTing the
review bodies of a JSON-lines file in turn (``wrk/reviews.lua``); the script counts answers
that are not 200 or carry no ``"allowed"`` and prints one line of JSON at the end, read here.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.servers import CLOCK_TICKS, Server

SCRIPT = Path(__file__).with_name("wrk") / "reviews.lua"
INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "wrk"]
HOW_TO_INSTALL = ("wrk is not on PATH: install it (Debian/Ubuntu: `sudo apt-get install wrk`; "
                  "macOS: `brew install wrk`) and run the benchmark again")
SOCKET_ERRORS = ("connect_errors", "read_errors", "write_errors", "timeouts")


def ensure_wrk(log: Callable[[str], None] = print) -> str:
    """The path of ``wrk``; installed with apt-get first when it is missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(HOW_TO_INSTALL)
    if _apt(INSTALL, log) != 0:  # the package lists may be missing or stale: refresh, retry
        for command in (["apt-get", "update"], INSTALL):
            if _apt(command, log) != 0:
                raise RuntimeError(f"`{' '.join(command)}` failed (output above). "
                                   f"{HOW_TO_INSTALL}")
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError(f"apt-get installed wrk but it is not on PATH. {HOW_TO_INSTALL}")
    log(f"installed {found}")
    return found


def _apt(command: list[str], log: Callable[[str], None]) -> int:
    log(f"wrk is not on PATH: running `{' '.join(command)}`")
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if done.returncode != 0:
        log((done.stdout + done.stderr)[-800:])
    return done.returncode


def parse_result(stdout: str) -> dict[str, Any]:
    """The JSON line ``reviews.lua``'s done() prints (the last line that is a JSON object),
    with ``errors``: bad answers plus socket errors, and ``rps`` over wrk's own duration."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"wrk printed no result line (is the script {SCRIPT} in use?):\n"
                           f"{stdout[-800:]}")
    try:
        result: dict[str, Any] = orjson.loads(lines[-1])
    except orjson.JSONDecodeError as error:
        raise RuntimeError(f"wrk's result line is not JSON ({error}): {lines[-1]}") from None
    if result["duration_us"] <= 0:
        raise RuntimeError(f"wrk ran for no time: {lines[-1]}")
    result["errors"] = (result["bad_status"] + result["not_allowed"]
                        + sum(result[key] for key in SOCKET_ERRORS))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU seconds every core has spent on anything but idle and I/O wait since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def run_wrk(wrk: str, url: str, bodies: Path, *, seconds: float, connections: int,
            threads: int) -> dict[str, Any]:
    """One closed-loop wrk run against ``url``: parse_result's figures, plus ``wall`` (its
    seconds, start to exit) and ``wrk_cpu_seconds``."""
    command = [wrk, "--connections", str(connections), "--threads", str(threads),
               "--duration", f"{seconds:g}s", "--timeout", "10s", "--script", str(SCRIPT),
               url, "--", str(bodies)]
    # RUSAGE_CHILDREN counts the children waited for: wrk is the only one reaped in between
    # (servers under test are reaped when stopped), so the difference is wrk's CPU.
    cpu_before, started = children_cpu_seconds(), time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"wrk against {url} hung") from None
    wall, cpu = time.monotonic() - started, children_cpu_seconds() - cpu_before
    if done.returncode != 0:
        raise RuntimeError(f"wrk against {url} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout)[-800:]}")
    result = parse_result(done.stdout)
    result["wall"], result["wrk_cpu_seconds"] = wall, cpu
    return result


def wrk_step(wrk: str, server: Server, bodies: Path, *, seconds: float, connections: int,
             threads: int) -> dict[str, Any]:
    """One closed-loop wrk run against ``server``: its throughput, the server's CPU (its
    process tree) and wrk's, each in cores over the run; ``other_cpu`` is what the rest of
    the machine used meanwhile (other processes: the cores neither could have)."""
    busy_before, before = machine_busy_seconds(), server.cpu_seconds()
    result = run_wrk(wrk, server.url, bodies, seconds=seconds, connections=connections,
                     threads=threads)
    server_cpu = server.cpu_seconds() - before
    busy = machine_busy_seconds() - busy_before
    return {
        "server": server.name,
        "achieved_rps": round(result["rps"], 1),
        "cpu": round(server_cpu / result["wall"], 3),
        "loadgen_cpu": round(result["wrk_cpu_seconds"] / result["wall"], 3),
        "other_cpu": round(max(0.0, busy - server_cpu - result["wrk_cpu_seconds"])
                           / result["wall"], 3),
        "errors": result["errors"],
        "requests": result["requests"],
        "latency_ms": {name: result["latency_us"][name] / 1000 for name in ("p50", "p99")},
        **({"first_bad_answer": result["first_bad"]} if result["errors"] else {}),
    }
