"""The null webhook: egressguard's HTTP and TLS stack answering "allowed" with no work.

    python -m bench.null --cert tls.crt --key tls.key --port 9443

It is the floor any webhook on this stack pays: the same TLS listener (handshake and
header deadlines), the same server TLS context, the same aiohttp request handling and
body reading under limits, and the same event loop (uvloop), but no decoding checks, no
review parsing, no policy, no metrics and no audit log: it reads the ``uid`` out of the
body and answers ``allowed: true`` for it. The benchmark compares egressguard's
throughput with this one's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from aiohttp import web

from webhook.model.review import review_response
from webhook.server.intake import read_body
from webhook.server.listener import (
    Connections,
    TLSSite,
    connection_limit,
    raise_open_files_limit,
)
from webhook.server.loop import run
from webhook.server.settings import DEFAULT_MAX_BODY_BYTES, DEFAULT_READ_TIMEOUT, Settings
from webhook.server.tls import server_context

# The server's own default for idle keep-alive connections.
KEEPALIVE_TIMEOUT = Settings(rules=Path(), cert=Path(), key=Path()).keepalive_timeout


async def allow(request: web.Request) -> web.Response:
    body = await read_body(request, max_body_bytes=DEFAULT_MAX_BODY_BYTES,
                           timeout=DEFAULT_READ_TIMEOUT)
    uid = orjson.loads(body)["request"]["uid"]
    return web.Response(body=orjson.dumps(review_response({"uid": uid, "allowed": True})),
                        content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def create_null_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/mutate", allow)
    app.router.add_post("/validate", allow)
    app.router.add_get("/healthz", healthz)
    return app


@contextlib.asynccontextmanager
async def serve_null(*, cert: Path, key: Path, host: str, port: int) -> AsyncIterator[str]:
    """The null webhook listening on ``host:port`` (0: any free port); yields its URL."""
    runner = web.AppRunner(create_null_app(), handle_signals=False)
    await runner.setup()
    site = TLSSite(runner, host=host, port=port, ssl_context=server_context(cert, key),
                   read_timeout=DEFAULT_READ_TIMEOUT, keepalive_timeout=KEEPALIVE_TIMEOUT,
                   connections=Connections(connection_limit(raise_open_files_limit())))
    try:
        await site.start()
        yield f"https://{host}:{site.port}"
    finally:
        await runner.cleanup()


async def serve(*, cert: Path, key: Path, host: str, port: int) -> None:
    async with serve_null(cert=cert, key=key, host=host, port=port):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.null", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9443)
    args = parser.parse_args(argv)
    run(serve(cert=args.cert, key=args.key, host=args.host, port=args.port))


if __name__ == "__main__":
    main()
