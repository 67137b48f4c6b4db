"""Graceful drain (RELIABILITY 31): SIGTERM to one of two replicas under 500 reviews a
second loses no review.

The client stands in for the API server and the endpoints controller together: it sends
each review to a replica whose ``/readyz`` said ready at the last look (every 100 ms),
over keep-alive connections it reuses unless told to close them.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from pathlib import Path

import aiohttp
import orjson
import pytest

from . import reviews
from .conftest import Pki
from .process import ServeProcess, serving

pytestmark = [pytest.mark.under_load]

RATE = 500  # reviews a second
SECONDS = 4.0
DRAIN_SECONDS = 2.0


async def _watch_readiness(session: aiohttp.ClientSession, replicas: list[ServeProcess],
                           ready: set[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for replica in replicas:
            try:
                async with session.get(f"https://127.0.0.1:{replica.port}/readyz",
                                       timeout=aiohttp.ClientTimeout(total=2)) as reply:
                    ok = reply.status == 200
            except TimeoutError:
                continue  # a slow probe on a busy machine is not an answer
            except aiohttp.ClientError:
                ok = False
            (ready.add if ok else ready.discard)(replica.port)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def test_sigterm_under_load_loses_no_review(
    pki: Pki, rules_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    drain = ("--drain-seconds", str(DRAIN_SECONDS))
    async with serving(pki, rules_dir, tmp_path / "a", extra=drain) as first, \
            serving(pki, rules_dir, tmp_path / "b", extra=drain) as second:
        context = ssl.create_default_context(cadata=pki.ca_pem.decode())
        connector = aiohttp.TCPConnector(ssl=context, limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            ready = {first.port, second.port}
            stop = asyncio.Event()
            watcher = asyncio.create_task(
                _watch_readiness(session, [first, second], ready, stop))
            failures: list[str] = []
            closes = 0
            answered = 0

            async def one(index: int) -> None:
                nonlocal closes, answered
                port = sorted(ready)[index % len(ready)]
                sent = reviews.pod_review(reviews.stripe_pod())
                try:
                    async with session.post(
                        f"https://127.0.0.1:{port}/validate", data=orjson.dumps(sent),
                        headers={"Content-Type": "application/json"},
                        timeout=aiohttp.ClientTimeout(total=10),
                    ) as reply:
                        body = await reply.json()
                        if reply.headers.get("Connection", "").lower() == "close":
                            closes += 1
                    if reply.status != 200 or body["response"]["allowed"] is not True:
                        failures.append(f"{port}: HTTP {reply.status} {body}")
                    answered += 1
                except (aiohttp.ClientError, TimeoutError) as error:
                    failures.append(f"{port}: {type(error).__name__}: {error}")

            loop = asyncio.get_running_loop()
            started = loop.time()
            tasks: list[asyncio.Task[None]] = []
            total = int(RATE * SECONDS)
            for index in range(total):
                if index == total // 4:
                    first.process.send_signal(signal.SIGTERM)
                tasks.append(asyncio.create_task(one(index)))
                delay = started + (index + 1) / RATE - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.gather(*tasks)
            stop.set()
            await watcher
        assert failures == []
        assert answered == total
        assert closes > 0, "the draining replica never told a client to close"
        assert first.process.wait(timeout=15) == 0
