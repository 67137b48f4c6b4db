"""``serve --workers N``: N worker processes answering on one port, and their supervisor.

Python runs one thread of Python at a time, so one process uses one core. Each worker is
a whole server of its own: it loads the rules and certificate, watches their files and
reloads them itself, and listens on the same port with ``SO_REUSEPORT``, the kernel
spreading new connections between the workers. Nothing is shared between them at run
time, so a reload reaches each worker as its own watch sees the change (within the
debounce), and no worker waits for another.

The supervisor (the process started) only starts the workers, serves the merged
``/metrics`` on ``--metrics-port`` (:mod:`webhook.server.worker_metrics`), and passes
SIGTERM on: every worker then drains as a single server does (reports not ready, answers
for ``--drain-seconds`` with ``Connection: close``, lets requests in flight finish). A
worker that dies is started again; one that dies within :data:`STARTUP_SECONDS` of its
start (a port in use, an unreadable certificate) stops them all, exit status 1, since
starting it again would fail the same way. Workers stop by themselves when the supervisor
is gone.

The default N is the CPUs the process may use: the cgroup's CPU quota (``cpu.max``,
rounded up) when there is one, and never more than the CPUs it may run on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from webhook.server.worker_metrics import Workers, merged_exposition

log = logging.getLogger("egressguard.workers")
STARTUP_SECONDS = 10.0
CHECK_SECONDS = 0.2
# Beyond the drain, the time for requests in flight to finish and the worker to exit.
STOP_GRACE_SECONDS = 15.0
CGROUP = Path("/sys/fs/cgroup")
# A scrape's request line and headers: at most this many bytes, read within these seconds.
REQUEST_HEAD_BYTES = 8192
REQUEST_HEAD_SECONDS = 10.0


def cpu_quota(cgroup: Path = CGROUP) -> int | None:
    """CPUs the cgroup's quota allows (rounded up), or None without a quota."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]  # cgroup v2
        if quota == "max":
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota_us = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return max(1, math.ceil(quota_us / period_us)) if quota_us > 0 else None


def default_workers(cgroup: Path = CGROUP) -> int:
    """One worker per CPU this process may use."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    quota = cpu_quota(cgroup)
    return max(1, min(usable, quota) if quota is not None else usable)


WorkerMain = Callable[[Workers, int], None]


class Supervisor:
    """Starts ``workers.count`` processes running ``main(workers, index)``, keeps them
    running, and stops them on SIGTERM or SIGINT."""

    def __init__(self, main: WorkerMain, workers: Workers, *, drain_seconds: float) -> None:
        self._main = main
        self.workers = workers
        self._drain = drain_seconds
        self._context = multiprocessing.get_context("spawn")
        self._processes: dict[int, tuple[BaseProcess, float]] = {}

    def _start(self, index: int) -> None:
        process = self._context.Process(target=self._main, args=(self.workers, index),
                                        name=f"egressguard-worker-{index}", daemon=False)
        process.start()
        self._processes[index] = (process, asyncio.get_running_loop().time())
        log.info("worker %d started (process %s)", index, process.pid)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process, _ in self._processes.values() if process.pid]

    async def run(self, stop: asyncio.Event) -> int:
        """Runs until ``stop`` is set; the exit status."""
        loop = asyncio.get_running_loop()
        for index in range(self.workers.count):
            self._start(index)
        status = 0
        while not stop.is_set():
            for index, (process, started) in list(self._processes.items()):
                if process.is_alive():
                    continue
                if loop.time() - started < STARTUP_SECONDS:
                    log.error("worker %d stopped while starting (exit status %s); stopping "
                              "every worker", index, process.exitcode)
                    status = 1
                    stop.set()
                    break
                log.error("worker %d stopped (exit status %s); starting it again", index,
                          process.exitcode)
                self._start(index)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=CHECK_SECONDS)
        await self._stop_all()
        return status

    async def _stop_all(self) -> None:
        processes = [process for process, _ in self._processes.values()]
        for process in processes:
            if process.is_alive() and process.pid:
                os.kill(process.pid, signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + self._drain + STOP_GRACE_SECONDS
        while any(p.is_alive() for p in processes) \
                and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(CHECK_SECONDS)
        for process in processes:
            if process.is_alive():
                log.error("worker process %s did not stop in time; killing it", process.pid)
                process.kill()
            process.join(timeout=5)


def _response(status: bytes, content_type: str, body: bytes, *, head: bool) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type.encode()
            + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
            + (b"" if head else body))


async def _scrape(workers: Workers, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
    """One request, one answer: ``GET /metrics`` (every worker's, merged), else a 404.

    Plain asyncio streams rather than the server's HTTP stack: the supervisor imports only
    what it needs to start, watch and stop the workers."""
    try:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                          REQUEST_HEAD_SECONDS)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            return
        method, _, rest = head.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method in (b"GET", b"HEAD") and path == b"/metrics":
            answer = _response(b"200 OK", CONTENT_TYPE_LATEST,
                               await merged_exposition(workers), head=method == b"HEAD")
        else:
            answer = _response(b"404 Not Found", "text/plain; charset=utf-8",
                               b"only /metrics is served on this port\n", head=False)
        writer.write(answer)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
    finally:
        writer.close()


async def _metrics_listener(workers: Workers, host: str, port: int) -> asyncio.Server:
    server = await asyncio.start_server(functools.partial(_scrape, workers), host, port,
                                        limit=REQUEST_HEAD_BYTES, reuse_address=True)
    log.info("metrics on http://%s:%d/metrics (every worker's, merged)", host, port)
    return server


async def supervise(main: WorkerMain, count: int, *, drain_seconds: float, host: str,
                    metrics_port: int | None) -> int:
    """Runs ``count`` workers until SIGTERM or SIGINT; the exit status."""
    workers = Workers(group=os.getpid(), count=count)
    listener = None
    if metrics_port is not None:
        listener = await _metrics_listener(workers, host, metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        return await Supervisor(main, workers, drain_seconds=drain_seconds).run(stop)
    finally:
        if listener is not None:
            listener.close()
            await listener.wait_closed()
