"""Bounded connections (RELIABILITY 30): idle connections never exhaust the descriptors a
container gets, and a new review always finds room."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import orjson
import pytest

from . import reviews
from .conftest import Pki
from .process import serving
from .wire import HOST, SERVICE_HOSTNAME, client_context, exchange, request_bytes

pytestmark = [pytest.mark.under_load]

CONTAINER_OPEN_FILES = 1024  # what containers usually get
IDLE_CONNECTIONS = 3 * CONTAINER_OPEN_FILES  # three times the descriptors the server has


async def _open_idle(port: int, context: ssl.SSLContext,
                     held: list[asyncio.StreamWriter]) -> None:
    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
        async with asyncio.timeout(10):
            _, writer = await asyncio.open_connection(HOST, port, ssl=context,
                                                      server_hostname=SERVICE_HOSTNAME)
            held.append(writer)


async def test_three_times_its_descriptors_in_idle_connections_then_a_new_review_is_answered(
    pki: Pki, rules_dir: Path, tmp_path: Path
) -> None:
    async with serving(pki, rules_dir, tmp_path, open_files=CONTAINER_OPEN_FILES) as server:
        context = client_context(pki.ca_pem)
        held: list[asyncio.StreamWriter] = []
        gate = asyncio.Semaphore(100)

        async def one() -> None:
            async with gate:
                await _open_idle(server.port, context, held)

        await asyncio.gather(*(one() for _ in range(IDLE_CONNECTIONS)))
        assert len(held) >= IDLE_CONNECTIONS * 0.9  # handshakes completed, then idle
        try:
            sent = reviews.pod_review(reviews.stripe_pod())
            reply = await exchange(server.port,
                                   request_bytes("POST", "/validate", orjson.dumps(sent)),
                                   ca_pem=pki.ca_pem, timeout=5.0)
            assert reply.json()["response"]["allowed"] is True
            metrics = (await exchange(server.port, request_bytes("GET", "/metrics"),
                                      ca_pem=pki.ca_pem)).body.decode()
            evicted = next(float(line.split()[-1]) for line in metrics.splitlines()
                           if line.startswith("egressguard_connections_evicted_total"))
            opened = next(float(line.split()[-1]) for line in metrics.splitlines()
                          if line.startswith("egressguard_open_connections"))
            assert evicted >= IDLE_CONNECTIONS - CONTAINER_OPEN_FILES
            assert opened < CONTAINER_OPEN_FILES
            assert server.process.poll() is None
        finally:
            for writer in held:
                writer.close()
