"""``serve --workers N``: how many by default, one merged ``/metrics``, a rules reload that
reaches every worker, and SIGTERM draining them all."""

from __future__ import annotations

import asyncio
import signal
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from webhook.model.review import parse_review
from webhook.server.metrics import Metrics
from webhook.server.worker_metrics import Merged, samples_of
from webhook.server.workers import cpu_quota, default_workers

from . import reviews
from .conftest import Pki
from .process import ServeProcess, free_port, serving
from .test_reload import default_sa_wants_stripe, grant_default_sa_stripe
from .wire import HOST, SERVICE_HOSTNAME, client_context, get, read_reply, request_bytes

pytestmark = [pytest.mark.under_load]

WORKERS = 2
DEADLINE = 60.0  # for every worker to answer (a worker starts in seconds on a busy machine)


@pytest.mark.parametrize(("cpu_max", "expected"), [
    ("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000\n", 2),
    ("50000 100000\n", 1), ("garbage\n", None),
])
def test_the_cpu_quota_is_read_from_cgroup_v2(tmp_path: Path, cpu_max: str,
                                              expected: int | None) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max)
    assert cpu_quota(tmp_path) == expected


def test_the_cpu_quota_is_read_from_cgroup_v1(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("250000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_quota(tmp_path) == 3
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_quota(tmp_path) is None


def test_the_default_is_the_quota_within_the_cpus_usable(tmp_path: Path) -> None:
    import os

    usable = len(os.sched_getaffinity(0))
    assert default_workers(tmp_path) == usable  # no quota
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert default_workers(tmp_path) == 1
    (tmp_path / "cpu.max").write_text(f"{100000 * (usable + 8)} 100000\n")
    assert default_workers(tmp_path) == usable


def _sample_values(exposition: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(exposition.decode())
            for s in family.samples}


def test_worker_metrics_merge_as_one_process_would_count() -> None:
    first, second = Metrics(), Metrics()
    denied = parse_review(reviews.pod_review(reviews.host_network_pod()))
    for metrics, count in ((first, 2), (second, 3)):
        for _ in range(count):
            metrics.observe(webhook="validate", request=denied, decision="denied",
                            mode="enforce", seconds=0.0004, codes=["host-network"])
    first.rules_generation.set(3)
    second.rules_generation.set(2)
    first.rules_reload_failing.set(0)
    second.rules_reload_failing.set(1)
    first.open_connections.set(4)
    second.open_connections.set(5)
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Merged([orjson.loads(samples_of(m.registry)) for m in (first, second)]))
    merged = _sample_values(generate_latest(registry))
    requests = ("egressguard_admission_requests_total",
                (("decision", "denied"), ("kind", "Pod"), ("mode", "enforce"),
                 ("operation", "CREATE"), ("webhook", "validate")))
    assert merged[requests] == 5
    assert merged[("egressguard_admission_duration_seconds_count",
                   (("webhook", "validate"),))] == 5
    assert merged[("egressguard_admission_duration_seconds_bucket",
                   (("le", "0.0005"), ("webhook", "validate")))] == 5
    assert merged[("egressguard_rules_generation", ())] == 2  # the oldest
    assert merged[("egressguard_rules_reload_failing", ())] == 1  # failing in any
    assert merged[("egressguard_open_connections", ())] == 9
    single = _sample_values(first.exposition())
    assert set(single) <= set(merged), "a series one process has is missing once merged"


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{HOST}:{port}/metrics", timeout=5) as reply:
        return _sample_values(reply.read())


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


def _answering_pid(server_port: int, client_port: int, candidates: set[int]) -> int | None:
    """The process holding the server side of the connection from ``client_port``."""
    wanted = f"{server_port:04X}", f"{client_port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(":" + wanted[0]) and fields[2].endswith(":" + wanted[1]):
            inode = fields[9]
    if inode is None:
        return None
    for pid in candidates:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if fd.readlink().name == f"socket:[{inode}]":
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


async def _ask_new_connection(server: ServeProcess, workers: set[int]) -> tuple[int | None, bool]:
    """(the worker that answered, whether it allowed) for a review the reload changes."""
    reader, writer = await asyncio.open_connection(
        HOST, server.port, ssl=client_context(server.pki.ca_pem),
        server_hostname=SERVICE_HOSTNAME)
    try:
        client_port = writer.get_extra_info("sockname")[1]
        writer.write(request_bytes("POST", "/validate", orjson.dumps(default_sa_wants_stripe())))
        await writer.drain()
        status, _, body = await read_reply(reader)
        assert status == 200
        pid = _answering_pid(server.port, client_port, workers)
        return pid, bool(orjson.loads(body)["response"]["allowed"])
    finally:
        writer.close()


async def test_a_rules_reload_reaches_every_worker(pki: Pki, rules_dir: Path,
                                                  tmp_path: Path) -> None:
    metrics_port = free_port()
    extra = ("--workers", str(WORKERS), "--metrics-port", str(metrics_port),
             "--reload-debounce-ms", "100")
    async with serving(pki, rules_dir, tmp_path, extra=extra) as server:
        workers = _children(server.process.pid)
        before: dict[int, bool] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while len(before) < WORKERS:  # until each worker answered once, with the old rules
            assert loop.time() < deadline, f"not every worker answers: {before}"
            pid, allowed = await _ask_new_connection(server, workers)
            if pid is not None:
                before[pid] = allowed
        assert not any(before.values()), before
        assert _scrape(metrics_port)[("egressguard_rules_generation", ())] == 1

        grant_default_sa_stripe(rules_dir)
        after: dict[int, bool] = {}
        deadline = loop.time() + DEADLINE
        while not (len(after) == WORKERS and all(after.values())):
            assert loop.time() < deadline, f"not every worker serves the new rules: {after}"
            pid, allowed = await _ask_new_connection(server, workers)
            if pid is not None:
                after[pid] = allowed
        assert set(after) == set(before)
        scraped = _scrape(metrics_port)
        assert scraped[("egressguard_rules_generation", ())] == 2
        over_https = await get(server.port, "/metrics", ca_pem=pki.ca_pem)  # any worker
        assert _sample_values(over_https.body)[("egressguard_rules_generation", ())] == 2
        assert [labels for (name, labels), value in scraped.items()
                if name == "egressguard_rules_info" and value == 1] == \
            [(("revision", _revision(tmp_path)),)]
        assert scraped[("egressguard_admission_requests_total",
                        (("decision", "allowed"), ("kind", "Pod"), ("mode", "enforce"),
                         ("operation", "CREATE"), ("webhook", "validate")))] >= WORKERS


def _revision(workdir: Path) -> str:
    """The revision the audit log says the last answer was judged with."""
    lines = (workdir / "audit.jsonl").read_bytes().splitlines()
    revision: str = orjson.loads(lines[-1])["rulesRevision"]
    return revision


async def test_sigterm_drains_and_stops_every_worker(pki: Pki, rules_dir: Path,
                                                    tmp_path: Path) -> None:
    extra = ("--workers", str(WORKERS), "--drain-seconds", "5")
    async with serving(pki, rules_dir, tmp_path, extra=extra) as server:
        workers = {pid for pid in _children(server.process.pid) if _is_worker(pid)}
        assert len(workers) == WORKERS
        server.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        reply_status, headers = await _post_during_drain(server)
        assert reply_status == 200
        assert headers.get("connection", "").lower() == "close"
        assert await asyncio.to_thread(server.process.wait, 30) == 0
        assert workers and not any(_is_worker(pid) for pid in workers)


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


async def _post_during_drain(server: ServeProcess) -> tuple[int, dict[str, str]]:
    reader, writer = await asyncio.open_connection(
        HOST, server.port, ssl=client_context(server.pki.ca_pem),
        server_hostname=SERVICE_HOSTNAME)
    try:
        writer.write(request_bytes("POST", "/validate",
                                   orjson.dumps(reviews.pod_review(reviews.stripe_pod()))))
        await writer.drain()
        status, headers, _ = await read_reply(reader)
        return status, headers
    finally:
        writer.close()


def _native_modules(pid: int) -> set[str]:
    """The packages whose compiled modules a process has loaded."""
    site = "/site-packages/"
    return {path.split(site, 1)[1].split("/", 1)[0]
            for path in (line.rpartition(" ")[2]
                         for line in Path(f"/proc/{pid}/maps").read_text().splitlines())
            if site in path and path.endswith(".so")}


async def test_the_supervisor_loads_neither_the_server_nor_the_certificate_code(
        pki: Pki, rules_dir: Path, tmp_path: Path) -> None:
    """It starts, watches and stops the workers and merges their /metrics: the HTTP server
    (aiohttp) and cryptography are in each worker, not in it too (about 30 MiB)."""
    metrics_port = free_port()
    extra = ("--workers", str(WORKERS), "--metrics-port", str(metrics_port))
    async with serving(pki, rules_dir, tmp_path, extra=extra) as server:
        workers = _children(server.process.pid)
        assert _scrape(metrics_port)[("egressguard_rules_generation", ())] == 1
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(f"http://{HOST}:{metrics_port}/mutate", timeout=5)
        refused.value.close()
        assert refused.value.code == 404
        loaded_by_workers = [_native_modules(pid) for pid in workers]
        assert any({"aiohttp", "cryptography"} <= loaded for loaded in loaded_by_workers)
        assert not {"aiohttp", "cryptography"} & _native_modules(server.process.pid)
