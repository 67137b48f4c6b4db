"""The TLS listener: deadlines for clients too slow to be the API server, and a bound on
open connections.

aiohttp bounds idle keep-alive connections but not a request that trickles in: a client
sending one header byte a second (slowloris) would hold a connection for ever. Here every
phase has a deadline shorter than the webhook timeout: the TLS handshake, the request line
and headers (from the first byte of a request until its headers are complete), and the
body (read under a deadline by the admission handler). Automatic decompression is off:
compressed bodies are refused before they are read.

Connections are bounded so that file descriptors never run out: the soft limit is raised
to the hard one at start, three quarters of it go to established connections, and the
rest stays free for handshakes in progress, the files the server reads and its watches.
Past the bound, the connection idle the longest is closed: the API server reuses its
connections all the time, so those it holds are never the longest idle, and a new
connection always finds room.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

# Bounds on what one request may send before its body; the API server sends a few hundred
# bytes of headers.
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
# Access lines at DEBUG: the audit log already records every admission answer.
ACCESS_LOG = logging.getLogger("egressguard.access")
log = logging.getLogger("egressguard.listener")
# File descriptors kept for the server's own files, watches and handshakes in progress.
RESERVED_DESCRIPTORS = 64


def raise_open_files_limit() -> int:
    """Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as error:
            log.warning("could not raise the open-files limit from %d: %s", soft, error)
    return soft


def connection_limit(open_files: int) -> int:
    """Established connections allowed with ``open_files`` descriptors."""
    return max(16, (open_files - RESERVED_DESCRIPTORS) * 3 // 4)


class Connections:
    """The open connections, oldest first; past ``limit`` the longest idle is closed."""

    def __init__(self, limit: int, on_evict: Callable[[], None] = lambda: None) -> None:
        self.limit = limit
        self._open: dict[DeadlineRequestHandler, None] = {}
        self._on_evict = on_evict

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, handler: DeadlineRequestHandler) -> None:
        self._open[handler] = None
        if len(self._open) > self.limit:
            idle = [h for h in self._open if h.idle]
            victim = min(idle, key=lambda h: h.last_active) if idle else handler
            del self._open[victim]  # now, not when the peer has gone: it is chosen once
            self._on_evict()
            victim.drop()

    def closed(self, handler: DeadlineRequestHandler) -> None:
        self._open.pop(handler, None)


class DeadlineRequestHandler(RequestHandler):
    """Closes a connection whose request headers do not arrive within ``header_timeout``."""

    def __init__(self, manager: web.Server, *, header_timeout: float,
                 connections: Connections, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_deadline: asyncio.TimerHandle | None = None
        self._requests_seen = 0
        self._connections = connections
        self.last_active = 0.0

    @property
    def idle(self) -> bool:
        """Between requests: nothing being read, judged or answered."""
        return not self._request_in_progress and not self._messages \
            and self._header_deadline is None

    def drop(self) -> None:
        """Closes at once, descriptor included: no TLS close_notify exchange a client could
        hold open."""
        self.force_close()
        if self.transport is not None:
            self.transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.last_active = asyncio.get_running_loop().time()
        self._connections.opened(self)

    def data_received(self, data: bytes) -> None:
        self.last_active = asyncio.get_running_loop().time()
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
            self.drop()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._connections.closed(self)
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        super().connection_lost(exc)


class TLSSite(web.BaseSite):
    """Like aiohttp's TCPSite, with a handshake deadline and the deadline request handler.

    With ``reuse_port``, several worker processes listen on the same port (``SO_REUSEPORT``)
    and the kernel spreads new connections between them."""

    def __init__(self, runner: web.AppRunner, *, host: str, port: int,
                 ssl_context: ssl.SSLContext, read_timeout: float,
                 keepalive_timeout: float, connections: Connections,
                 backlog: int = 128, reuse_port: bool = False) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self.connections = connections
        self._host = host
        self._port = port
        self._read_timeout = read_timeout
        self._keepalive_timeout = keepalive_timeout
        self._reuse_port = reuse_port
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
            connections=self.connections,
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
            reuse_port=self._reuse_port or None,
            family=socket.AF_INET6 if ":" in self._host else socket.AF_UNSPEC,
        )
        self._server = self._listening
