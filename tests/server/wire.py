"""A deliberately small HTTPS client for the server tests.

Raw asyncio streams rather than an HTTP library: the hostile-input tests must send bytes
no well-behaved client would (wrong framing, trickled headers, stalled bodies), and the
rotation tests must see which certificate each new connection was served.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography import x509

HOST = "127.0.0.1"
SERVICE_HOSTNAME = "egressguard.egressguard-system.svc"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    serial: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.body)


def client_context(ca_pem: bytes, *, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = maximum
    return context


def request_bytes(method: str, path: str, body: bytes = b"", *,
                  headers: dict[str, str] | None = None, length: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {SERVICE_HOSTNAME}"]
    merged = {"Connection": "close"}
    if method == "POST":
        merged["Content-Type"] = "application/json"
    merged.update(headers or {})
    if length and method == "POST":
        merged.setdefault("Content-Length", str(len(body)))
    lines.extend(f"{k}: {v}" for k, v in merged.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    headers = {}
    for line in header_lines:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
    return status, headers, body


async def exchange(port: int, raw: bytes, *, ca_pem: bytes, timeout: float = 10.0,
                   context: ssl.SSLContext | None = None) -> Reply:
    """One connection, one request (as raw bytes), one reply."""
    context = context or client_context(ca_pem)
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(
            HOST, port, ssl=context, server_hostname=SERVICE_HOSTNAME
        )
        try:
            peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            writer.write(raw)
            await writer.drain()
            status, headers, body = await read_reply(reader)
        finally:
            writer.close()
            await _closed(writer)
    serial = x509.load_der_x509_certificate(peer).serial_number if peer else 0
    return Reply(status, headers, body, serial)


async def _closed(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await writer.wait_closed()


async def post(port: int, path: str, review: Any, *, ca_pem: bytes,
               headers: dict[str, str] | None = None, timeout: float = 10.0) -> Reply:
    body = review if isinstance(review, bytes) else orjson.dumps(review)
    return await exchange(port, request_bytes("POST", path, body, headers=headers),
                          ca_pem=ca_pem, timeout=timeout)


async def get(port: int, path: str, *, ca_pem: bytes) -> Reply:
    return await exchange(port, request_bytes("GET", path), ca_pem=ca_pem)
