"""Reading a review's bytes off the wire, within limits the API server never exceeds.

Checked before a byte of the body is read: the content type (the API server sends
``application/json``), the content encoding (it never compresses; a compressed body could
inflate far past the cap, so it is refused rather than decompressed — the server is also
started with aiohttp's automatic decompression off), and a declared length over the cap.
Then the body is read in chunks, counting as it goes (a chunked body declares no length),
under a deadline shorter than the webhook timeout so a stalled sender is cut off.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from aiohttp import web

READ_CHUNK = 64 * 1024


class RefusedRequest(Exception):
    """A request refused before judging: the server answers ``status`` with ``{"error"}``.

    ``close`` asks for the connection to be closed: the rest of the body is not worth
    reading (too large, compressed, or arriving too slowly).
    """

    def __init__(self, status: HTTPStatus, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


def check_headers(request: web.Request, *, max_body_bytes: int) -> None:
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise RefusedRequest(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Encoding {encoding!r} is not accepted; send the review uncompressed",
            close=True,
        )
    if request.content_type != "application/json":
        raise RefusedRequest(
            HTTPStatus.BAD_REQUEST,
            f"Content-Type must be application/json, not {request.content_type!r}",
        )
    charset = request.charset
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise RefusedRequest(HTTPStatus.BAD_REQUEST, "the body must be UTF-8")
    declared = request.content_length
    if declared is not None and declared > max_body_bytes:
        raise RefusedRequest(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"the body exceeds {max_body_bytes} bytes",
            close=True,
        )


async def read_body(request: web.Request, *, max_body_bytes: int, timeout: float) -> bytes:
    """The whole body, or :class:`RefusedRequest` (413 past the cap, 408 past the deadline)."""
    check_headers(request, max_body_bytes=max_body_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while chunk := await request.content.read(READ_CHUNK):
                size += len(chunk)
                if size > max_body_bytes:
                    raise RefusedRequest(
                        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"the body exceeds {max_body_bytes} bytes",
                        close=True,
                    )
                chunks.append(chunk)
    except TimeoutError:
        raise RefusedRequest(
            HTTPStatus.REQUEST_TIMEOUT,
            f"the body did not arrive within {timeout:g} seconds",
            close=True,
        ) from None
    return b"".join(chunks)
