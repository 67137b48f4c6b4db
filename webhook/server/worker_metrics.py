"""One ``/metrics`` for several worker processes: each worker's own registry, merged.

With ``serve --workers N`` every worker keeps its ordinary registry (the process and
Python collectors included) and writes its samples as JSON to whoever connects to its
private socket. Whoever serves ``/metrics`` (any worker on the HTTPS port, the supervisor
on ``--metrics-port``) asks every worker and merges the answers into one exposition with
the names and labels a single process has, so alerts and dashboards read the same series:

* counters, histograms and summaries add up (a restarted worker's counters restart, which
  Prometheus reads as a counter reset); their ``_created`` samples take the earliest;
* gauges add up (open connections, memory, file descriptors), except those in
  :data:`LEAST` (the oldest rules generation, the earliest expiry, synced only when every
  worker is) and :data:`MOST` (rules failing to load in any worker; an info series).

The sockets are Linux abstract Unix sockets named after the supervisor's process id and
the worker's index: nothing is written to the (read-only) filesystem, and they are visible
only inside the pod's network namespace. A worker that does not answer within
:data:`ASK_TIMEOUT` is left out of that scrape and logged.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger("egressguard.metrics")
ASK_TIMEOUT = 2.0
LEAST = frozenset({
    "egressguard_rules_generation",
    "egressguard_rules_loaded_timestamp_seconds",
    "egressguard_certificate_expiry_timestamp_seconds",
    "egressguard_namespace_cache_synced",
    "process_start_time_seconds",
    "process_max_fds",
})
MOST = frozenset({"egressguard_rules_reload_failing", "egressguard_rules_info", "python_info"})

Samples = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Workers:
    """Where the workers of one supervisor answer: ``count`` sockets named by ``group``."""

    group: int  # the supervisor's process id
    count: int

    def address(self, index: int) -> str:
        return f"\0egressguard-{self.group}-worker-{index}"

    def addresses(self) -> list[str]:
        return [self.address(index) for index in range(self.count)]


def samples_of(registry: CollectorRegistry) -> bytes:
    """A registry's families as JSON: name, type, help, unit and samples."""
    return orjson.dumps([
        {"name": family.name, "type": family.type, "help": family.documentation,
         "unit": family.unit,
         "samples": [[s.name, s.labels, s.value] for s in family.samples]}
        for family in registry.collect()
    ])


def _combine(family: str, sample: str, kind: str) -> Callable[[float, float], float]:
    if sample.endswith("_created") or family in LEAST:
        return min
    if family in MOST or kind in ("info", "stateset", "unknown"):
        return max
    return lambda a, b: a + b


class Merged(Collector):
    """The families of several workers' answers, merged (see the module docstring)."""

    def __init__(self, answers: list[Samples]) -> None:
        self._answers = answers

    def collect(self) -> Iterator[Metric]:
        families: dict[str, tuple[dict[str, Any], dict[tuple[str, tuple[tuple[str, str], ...]],
                                                         float]]] = {}
        for answer in self._answers:
            for family in answer:
                _, values = families.setdefault(family["name"], (family, {}))
                for name, labels, value in family["samples"]:
                    key = (name, tuple(sorted(labels.items())))
                    if key in values:
                        values[key] = _combine(family["name"], name, family["type"])(
                            values[key], value)
                    else:
                        values[key] = value
        for name, (family, values) in families.items():
            metric = Metric(name, family["help"], family["type"], family["unit"])
            for (sample, labels), value in values.items():
                metric.add_sample(sample, dict(labels), value)
            yield metric


async def _ask(address: str) -> Samples | None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(ASK_TIMEOUT):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, address)
            except BaseException:
                sock.close()
                raise
            reader, writer = await asyncio.open_unix_connection(sock=sock)  # owns sock now
            try:
                answer: Samples = orjson.loads(await reader.read())
            finally:
                writer.close()
            return answer
    except ConnectionRefusedError:  # starting, or started again: not listening yet
        log.debug("worker %s is not answering yet", address.strip("\0"))
        return None
    except (OSError, TimeoutError, orjson.JSONDecodeError) as error:
        log.warning("worker %s did not give its metrics: %s", address.strip("\0"), error)
        return None


async def merged_exposition(workers: Workers) -> bytes:
    """Every worker's metrics, merged, in the Prometheus text format."""
    answers = await asyncio.gather(*(_ask(address) for address in workers.addresses()))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Merged([answer for answer in answers if answer is not None]))
    return generate_latest(registry)


@dataclass(slots=True)
class SamplesListener:
    server: asyncio.Server

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def start_samples_listener(address: str,
                                 samples: Callable[[], bytes]) -> SamplesListener:
    """Writes ``samples()`` to each connection on the abstract socket ``address``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(samples())
            await writer.drain()
        except OSError:
            pass  # the asker is gone
        finally:
            writer.close()

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(address)
        server = await asyncio.start_unix_server(answer, sock=sock)
    except BaseException:
        sock.close()
        raise
    return SamplesListener(server)
