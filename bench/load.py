"""The load generator: open-loop HTTPS keep-alive load at a fixed rate, in its own process.

    python -m bench.load --url https://127.0.0.1:8443/mutate --ca ca.crt \\
        --bodies reviews.jsonl --rate 500 --duration 10 [--max-requests N]

Request *i* is due at ``start + i / rate`` whatever happened to the requests before it, and
its latency is measured **from that intended time** to the last byte of the answer. A
server that stalls for 100 ms is therefore charged for every request that should have
been sent during the stall, not only for the one it was answering (no coordinated
omission). A due request goes to an idle keep-alive connection; when every connection is
busy a new one is opened, up to ``--max-connections`` (as the API server's HTTP client
does), and after that it waits, the wait counted in its latency.

Why our own: Debian's ``wrk``, ``hey`` and ``siege`` and PyPI's locust-style tools are
closed-loop (each connection waits for an answer before the next request), which hides
exactly the queueing a webhook must be judged on; wrk2 is not packaged.

Everything is bounded: the timetable stops after ``--duration`` seconds or
``--max-requests`` requests, whichever comes first; answers still missing ``--timeout``
seconds later are counted as errors, and the process exits. ``--rate 0`` is a closed-loop
saturation run instead: ``--connections`` connections send back to back for the duration.
The result is one JSON object on stdout (latencies in milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

# Latencies are recorded in microseconds, 1 us to 60 s, 3 significant digits.
LOWEST_US, HIGHEST_US, DIGITS = 1, 60_000_000, 3
MIN_SLEEP = 0.001
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9, "max": 100.0}

Done = Callable[[int, float], None]  # (HTTP status or 0 for a failed connection, when)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def summary(histogram: HdrHistogram) -> dict[str, float]:
    """Percentiles in milliseconds (0 for an empty histogram)."""
    if histogram.get_total_count() == 0:
        return {name: 0.0 for name in (*PERCENTILES, "mean")}
    result = {name: round(histogram.get_value_at_percentile(p) / 1000, 3)
              for name, p in PERCENTILES.items()}
    result["mean"] = round(histogram.get_mean_value() / 1000, 3)
    return result


class Connection(asyncio.Protocol):
    """One keep-alive HTTPS connection with at most one request in flight."""

    def __init__(self, on_lost: Callable[[Connection], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.done: Done | None = None
        self.closed = False
        self._on_lost = on_lost
        self._header_end = -1
        self._length = -1
        self._status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    @property
    def busy(self) -> bool:
        return self.done is not None

    def send(self, request: bytes, done: Done) -> None:
        assert self.transport is not None and self.done is None
        self.done = done
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.done is not None and self._parse():
            pass

    def _parse(self) -> bool:
        """Completes the request in flight when its whole answer is in the buffer."""
        buffer = self.buffer
        if self._header_end < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = bytes(buffer[:end]).lower()
            self._status = int(head[9:12])
            self._header_end = end + 4
            self._length = -1
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length":
                    self._length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value:
                    self._length = -2
                elif name == b"connection" and b"close" in value:
                    self.closed = True
        if self._length >= 0:
            total = self._header_end + self._length
            if len(buffer) < total:
                return False
        else:
            total = self._chunked_end()
            if total < 0:
                return False
        del buffer[:total]
        self._header_end = -1
        done, self.done = self.done, None
        assert done is not None
        done(self._status, time.perf_counter())
        return bool(buffer)

    def _chunked_end(self) -> int:
        """Where a chunked body ends in the buffer, or -1 while it is incomplete."""
        position = self._header_end
        buffer = self.buffer
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return -1
            size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
            position = line_end + 2 + size + 2
            if len(buffer) < position:
                return -1
            if size == 0:
                return position

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        done, self.done = self.done, None
        if done is not None:
            done(0, time.perf_counter())
        self._on_lost(self)


@dataclass(slots=True)
class Target:
    host: str
    port: int
    requests: list[bytes]
    context: ssl.SSLContext

    @classmethod
    def build(cls, url: str, bodies: list[bytes], ca: Path | None) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname is None:
            raise SystemExit(f"--url must be https://HOST:PORT/PATH, not {url!r}")
        host, port = parts.hostname, parts.port or 443
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("the load generator only targets this machine (loopback)")
        path = parts.path or "/"
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
        context.set_alpn_protocols(["http/1.1"])
        requests = [
            (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
             "Content-Type: application/json\r\nAccept: application/json, */*\r\n"
             f"User-Agent: egressguard-bench\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            + body
            for body in bodies
        ]
        return cls(host, port, requests, context)


@dataclass(slots=True)
class Run:
    """What one run measured."""

    latency: HdrHistogram = field(default_factory=new_histogram)  # from the intended time
    service: HdrHistogram = field(default_factory=new_histogram)  # from the write on a connection
    lag: HdrHistogram = field(default_factory=new_histogram)  # intended -> handed to a connection
    errors: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    completed: int = 0
    opened: int = 0
    first: float = 0.0
    last: float = 0.0


class Pool:
    """Keep-alive connections to one target; opens more when every one is busy."""

    def __init__(self, target: Target, *, max_connections: int, run: Run) -> None:
        self.target = target
        self.max_connections = max_connections
        self.run = run
        self.idle: list[Connection] = []
        self.count = 0
        self.waiting: deque[tuple[int, float]] = deque()  # (request index, intended)
        self.on_answer: Callable[[int, float, float, int, float], None] | None = None

    async def open(self) -> Connection | None:
        self.count += 1
        self.run.opened += 1
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                lambda: Connection(self._lost), self.target.host, self.target.port,
                ssl=self.target.context, server_hostname=self.target.host,
            )
        except OSError as error:
            self.count -= 1
            self.run.errors[f"connect: {type(error).__name__}"] += 1
            return None
        return connection

    def _lost(self, connection: Connection) -> None:
        self.count -= 1
        with contextlib.suppress(ValueError):
            self.idle.remove(connection)

    async def warm(self, connections: int) -> None:
        opened = await asyncio.gather(*(self.open() for _ in range(connections)))
        self.idle.extend(c for c in opened if c is not None)

    def submit(self, index: int, intended: float) -> None:
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed:
                self._send(connection, index, intended)
                return
        if self.count < self.max_connections:
            asyncio.get_running_loop().create_task(self._open_and_send(index, intended))
        else:
            self.waiting.append((index, intended))

    async def _open_and_send(self, index: int, intended: float) -> None:
        connection = await self.open()
        if connection is None:
            self._answer(index, intended, intended, 0, time.perf_counter())
            self._next_waiting()
            return
        self._send(connection, index, intended)

    def _send(self, connection: Connection, index: int, intended: float) -> None:
        requests = self.target.requests
        sent = time.perf_counter()

        def done(status: int, when: float) -> None:
            self._answer(index, intended, sent, status, when)
            if not connection.closed:
                self.idle.append(connection)
            self._next_waiting()

        connection.send(requests[index % len(requests)], done)

    def _next_waiting(self) -> None:
        while self.waiting and (self.idle or self.count < self.max_connections):
            index, intended = self.waiting.popleft()
            self.submit(index, intended)

    def _answer(self, index: int, intended: float, sent: float, status: int,
                when: float) -> None:
        if self.on_answer is not None:
            self.on_answer(index, intended, sent, status, when)

    def close(self) -> None:
        for connection in self.idle:
            if connection.transport is not None:
                connection.transport.close()


def record(run: Run) -> Callable[[int, float, float, int, float], None]:
    def answer(index: int, intended: float, sent: float, status: int, when: float) -> None:
        run.completed += 1
        run.last = max(run.last, when)
        if status == 0:
            run.errors["connection failed"] += 1
        elif not 200 <= status < 300:
            run.errors[f"HTTP {status}"] += 1
        run.latency.record_value(max(LOWEST_US, int((when - intended) * 1e6)))
        run.service.record_value(max(LOWEST_US, int((when - sent) * 1e6)))

    return answer


async def open_loop(pool: Pool, run: Run, *, rate: float, duration: float,
                    max_requests: int) -> None:
    """Submits request i at start + i/rate; several at once when the loop woke late."""
    total = min(max_requests, max(1, int(rate * duration)))
    interval = 1.0 / rate
    start = time.perf_counter() + 0.005
    run.first = start
    index = 0
    while index < total:
        now = time.perf_counter()
        while index < total and start + index * interval <= now:
            intended = start + index * interval
            run.lag.record_value(max(LOWEST_US, int((now - intended) * 1e6)))
            run.sent += 1
            pool.submit(index, intended)
            index += 1
        if index < total:
            # At least a millisecond: uvloop rounds shorter timers to 0 and would spin,
            # taking the CPU the server needs. Requests due meanwhile go out together.
            await asyncio.sleep(max(MIN_SLEEP, start + index * interval - time.perf_counter()))


async def closed_loop(pool: Pool, run: Run, *, connections: int, duration: float,
                      max_requests: int) -> None:
    """Each connection sends its next request as soon as the previous one is answered."""
    stop_at = time.perf_counter() + duration
    run.first = time.perf_counter()
    counter = iter(range(max_requests))
    finished = asyncio.get_running_loop().create_future()
    outstanding = 0
    answer = record(run)

    def next_one() -> None:
        nonlocal outstanding
        index = next(counter, None)
        if index is None or time.perf_counter() >= stop_at:
            if outstanding == 0 and not finished.done():
                finished.set_result(None)
            return
        outstanding += 1
        run.sent += 1
        pool.submit(index, time.perf_counter())

    def on_answer(index: int, intended: float, sent: float, status: int, when: float) -> None:
        nonlocal outstanding
        outstanding -= 1
        answer(index, intended, sent, status, when)
        next_one()

    pool.on_answer = on_answer
    for _ in range(connections):
        next_one()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(finished, timeout=duration + 30)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    bodies = [line for line in Path(args.bodies).read_bytes().split(b"\n") if line]
    if not bodies:
        raise SystemExit(f"{args.bodies}: no request bodies")
    target = Target.build(args.url, bodies, args.ca)
    run = Run()
    closed = args.rate <= 0
    pool = Pool(target, max_connections=args.connections if closed else args.max_connections,
                run=run)
    pool.on_answer = record(run)
    await pool.warm(args.connections)
    if args.wait_for_go:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if closed:
        await closed_loop(pool, run, connections=args.connections, duration=args.duration,
                          max_requests=args.max_requests)
    else:
        await open_loop(pool, run, rate=args.rate, duration=args.duration,
                        max_requests=args.max_requests)
        deadline = time.perf_counter() + args.timeout
        while run.completed < run.sent and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
    missing = run.sent - run.completed
    if missing:
        run.errors["no answer in time"] += missing
    pool.close()
    window = max(run.last - run.first, 1e-9)
    return {
        "mode": "closed" if closed else "open",
        "rate": args.rate,
        "sent": run.sent,
        "completed": run.completed,
        "errors": sum(run.errors.values()),
        "error_kinds": dict(run.errors),
        "seconds": round(window, 3),
        "achieved_rps": round((run.completed - run.errors["no answer in time"]) / window, 1),
        "connections_opened": run.opened,
        "latency_ms": summary(run.latency),
        "service_ms": summary(run.service),
        "send_lag_ms": summary(run.lag),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", type=Path, help="CA certificate to verify the server with")
    parser.add_argument("--bodies", type=Path, required=True, help="JSON lines, sent in turn")
    parser.add_argument("--rate", type=float, required=True,
                        help="requests per second (open loop); 0: closed-loop saturation")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (max 600)")
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=16,
                        help="connections opened before the run (closed loop: all of them)")
    parser.add_argument("--max-connections", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for the last answers after the timetable ends")
    parser.add_argument("--wait-for-go", action="store_true",
                        help="print 'ready' once connected and start on a line on stdin")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 600 or args.max_requests < 1:
        parser.error("--duration must be in (0, 600] and --max-requests positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(main_async(args))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(main_async(args))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
