"""Sends review bodies to a server all at once, from a process of its own.

``python -m tests.server.flood PORT CA_FILE BODY_FILE...`` prints one JSON object: when the
sending started and ended (``time.monotonic()``, the same clock in every process) and, per
body, the reply's status and body, or ``closed`` when the server closed the connection
before answering (a refusal to the API server too). A test that times other requests
meanwhile must not encrypt megabytes on its own event loop, or it would count its own
stalls as the server's.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from .wire import exchange, request_bytes


async def flood(port: int, ca_pem: bytes, bodies: list[bytes]) -> list[dict[str, Any]]:
    async def send(body: bytes) -> dict[str, Any]:
        try:
            reply = await exchange(port, request_bytes("POST", "/validate", body),
                                   ca_pem=ca_pem, timeout=30.0)
        except (ConnectionError, asyncio.IncompleteReadError):
            return {"closed": True}
        return {"status": reply.status, "body": reply.body.decode()}

    return await asyncio.gather(*(send(body) for body in bodies))


def main(argv: list[str]) -> None:
    port, ca_file, *paths = argv
    bodies = [Path(path).read_bytes() for path in paths]
    started = time.monotonic()
    results = asyncio.run(flood(int(port), Path(ca_file).read_bytes(), bodies))
    ended = time.monotonic()
    sys.stdout.buffer.write(orjson.dumps({"started": started, "ended": ended,
                                          "results": results}))


if __name__ == "__main__":
    main(sys.argv[1:])
