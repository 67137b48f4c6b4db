"""The TLS listener, with deadlines for clients too slow to be the API server.

aiohttp bounds idle keep-alive connections but not a request that trickles in: a client
sending one header byte a second (slowloris) would hold a connection for ever. Here every
phase has a deadline shorter than the webhook timeout: the TLS handshake, the request line
and headers (from the first byte of a request until its headers are complete), and the
body (read under a deadline by the admission handler). Automatic decompression is off:
compressed bodies are refused before they are read.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

# Bounds on what one request may send before its body; the API server sends a few hundred
# bytes of headers.
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
# Access lines at DEBUG: the audit log already records every admission answer.
ACCESS_LOG = logging.getLogger("egressguard.access")


class DeadlineRequestHandler(RequestHandler):
    """Closes a connection whose request headers do not arrive within ``header_timeout``."""

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_deadline: asyncio.TimerHandle | None = None
        self._requests_seen = 0

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._request_count != self._requests_seen:
            # A request's headers are complete: its body has its own deadline.
            self._requests_seen = self._request_count
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None
        elif self._header_deadline is None and data:
            self._header_deadline = asyncio.get_running_loop().call_later(
                self._header_timeout, self._headers_too_slow, self._request_count
            )

    def _headers_too_slow(self, requests_before: int) -> None:
        self._header_deadline = None
        if self._request_count == requests_before:
            self.force_close()
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        super().connection_lost(exc)


class TLSSite(web.BaseSite):
    """Like aiohttp's TCPSite, with a handshake deadline and the deadline request handler."""

    def __init__(self, runner: web.AppRunner, *, host: str, port: int,
                 ssl_context: ssl.SSLContext, read_timeout: float,
                 keepalive_timeout: float, backlog: int = 128) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host = host
        self._port = port
        self._read_timeout = read_timeout
        self._keepalive_timeout = keepalive_timeout
        self._listening: asyncio.Server | None = None

    @property
    def name(self) -> str:
        return f"https://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._listening is not None and self._listening.sockets:
            return int(self._listening.sockets[0].getsockname()[1])
        return self._port

    def _protocol(self) -> RequestHandler:
        manager = self._runner.server
        assert manager is not None
        return DeadlineRequestHandler(
            manager,
            header_timeout=self._read_timeout,
            loop=asyncio.get_running_loop(),
            keepalive_timeout=self._keepalive_timeout,
            access_log=ACCESS_LOG,
            max_line_size=MAX_LINE_SIZE,
            max_field_size=MAX_FIELD_SIZE,
            auto_decompress=False,
        )

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._listening = await loop.create_server(
            self._protocol,
            self._host,
            self._port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._read_timeout,
            backlog=self._backlog,
            reuse_address=True,
            family=socket.AF_INET6 if ":" in self._host else socket.AF_UNSPEC,
        )
        self._server = self._listening
