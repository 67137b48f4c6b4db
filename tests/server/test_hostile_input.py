"""Hostile input never becomes an admission (RELIABILITY 2, 20-24): golden answers.

Every refusal is an HTTP error with ``{"error": ...}`` and no ``allowed`` at all, so an
API server (or anything else) reading it can never mistake it for an admission.
"""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import orjson
import pytest

from webhook.server.admission import TOO_DEEP
from webhook.server.decoding import MAX_DEPTH
from webhook.server.settings import DEFAULT_MAX_BODY_BYTES, MiB

from . import reviews
from .conftest import SHARED, Server, StartServer, server_shared_by_module
from .wire import HOST, SERVICE_HOSTNAME, client_context, exchange, read_reply, request_bytes

server = server_shared_by_module()


def valid() -> dict[str, Any]:
    return reviews.secret_review(request_uid="hostile")


def with_request(**changes: Any) -> bytes:
    body = valid()
    body["request"].update(changes)
    return orjson.dumps(body)


def nested(depth: int, body: dict[str, Any] | None = None, *, at: str = "data") -> bytes:
    """``body`` (a Secret review) with ``object[at]`` nested so that the whole body nests
    ``depth`` levels."""
    body = body if body is not None else valid()
    body["request"]["object"]["metadata" if at == "labels" else at] = \
        {**body["request"]["object"].get("metadata", {}), "labels": {"k": "v"}} \
        if at == "labels" else {"k": "v"}
    raw = orjson.dumps(body)
    inner = depth - (4 if at == "labels" else 3)  # review, request, object[, metadata]
    return raw.replace(b'{"k":"v"}', b'{"k":' * inner + b"1" + b"}" * inner)


GOLDEN: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("not-json", b"this is not json", {}, 400, "the body is not valid JSON"),
    ("empty-body", b"", {}, 400, "the body is not valid JSON"),
    ("truncated", orjson.dumps(valid())[:-3], {}, 400, "the body is not valid JSON"),
    ("nan", orjson.dumps(valid()).replace(b'"Secret"}', b'"Secret","x":NaN}', 1), {}, 400,
     "the body is not valid JSON"),
    ("text-plain", orjson.dumps(valid()), {"Content-Type": "text/plain"}, 400,
     "Content-Type must be application/json, not 'text/plain'"),
    ("form", orjson.dumps(valid()), {"Content-Type": "application/x-www-form-urlencoded"},
     400, "Content-Type must be application/json, not 'application/x-www-form-urlencoded'"),
    ("latin-1", orjson.dumps(valid()), {"Content-Type": "application/json; charset=latin-1"},
     400, "the body must be UTF-8"),
    ("wrong-api-version",
     orjson.dumps({**valid(), "apiVersion": "admission.k8s.io/v1beta1"}), {}, 400,
     "apiVersion must be admission.k8s.io/v1"),
    ("wrong-kind", orjson.dumps({**valid(), "kind": "AdmissionResponse"}), {}, 400,
     "kind must be AdmissionReview"),
    ("no-request", orjson.dumps({k: v for k, v in valid().items() if k != "request"}), {},
     400, "request is missing or not an object"),
    ("request-is-a-string", orjson.dumps({**valid(), "request": "allow me"}), {}, 400,
     "request is missing or not an object"),
    ("no-uid", with_request(uid=None), {}, 400, "request.uid is missing or empty"),
    ("empty-uid", with_request(uid=""), {}, 400, "request.uid is missing or empty"),
    ("uid-not-a-string", with_request(uid=7), {}, 400, "request.uid is missing or empty"),
    ("bad-operation", with_request(operation="PATCH"), {}, 400,
     "request.operation must be CREATE, UPDATE, DELETE or CONNECT"),
    ("a-list", orjson.dumps([valid()]), {}, 400,
     "the body must be a JSON object (an AdmissionReview)"),
    ("a-string", b'"AdmissionReview"', {}, 400,
     "the body must be a JSON object (an AdmissionReview)"),
    ("nested-1025", nested(MAX_DEPTH + 1), {}, 400, "the body nests deeper than 1024 levels"),
    ("nested-5000", nested(5000), {}, 400, "the body nests deeper than 1024 levels"),
    ("invalid-utf8", orjson.dumps(valid()).replace(b'"s"', b'"s\xff\xfe"'), {}, 400,
     "the body is not valid UTF-8"),
    ("lone-surrogate", orjson.dumps(valid()).replace(b'"s"', b'"\\ud800"'), {}, 400,
     "the body is not valid UTF-8"),
    ("gzip", gzip.compress(orjson.dumps(valid())), {"Content-Encoding": "gzip"}, 415,
     "Content-Encoding 'gzip' is not accepted; send the review uncompressed"),
    ("deflate", orjson.dumps(valid()), {"Content-Encoding": "deflate"}, 415,
     "Content-Encoding 'deflate' is not accepted; send the review uncompressed"),
]


@SHARED
@pytest.mark.parametrize("path", ["/validate", "/mutate"])
@pytest.mark.parametrize(("body", "headers", "status", "error"),
                         [case[1:] for case in GOLDEN], ids=[case[0] for case in GOLDEN])
async def test_hostile_body_gets_its_golden_answer(
    server: Server, path: str, body: bytes, headers: dict[str, str], status: int, error: str
) -> None:
    reply = await server.post(path, body, headers=headers)
    assert (reply.status, reply.json()) == (status, {"error": error})
    assert server.audit == []


@SHARED
@pytest.mark.parametrize("path", ["/validate", "/mutate"])
async def test_a_repeated_key_is_read_as_the_api_server_reads_it(server: Server,
                                                                path: str) -> None:
    """The last of repeated keys counts, as in Go's encoding/json: the review is answered
    for the uid the API server would have read, escaped spellings included."""
    raw = orjson.dumps(valid()).replace(b'"uid":"hostile"',
                                        b'"uid":"hostile","\\u0075id":"last"')
    reply = await server.post(path, raw)
    assert reply.status == 200
    assert reply.json()["response"]["uid"] == "last"


@SHARED
async def test_nesting_within_orjsons_limit_is_judged(server: Server) -> None:
    """Nesting the engine never reads is judged as usual, up to the deepest body read."""
    reply = await server.post("/validate", nested(MAX_DEPTH))
    assert reply.status == 200
    assert reply.json()["response"] == {"uid": "hostile", "allowed": True}


@SHARED
@pytest.mark.parametrize("path", ["/validate", "/mutate"])
async def test_a_value_too_deep_for_the_engine_is_refused_and_audited(
    server: Server, path: str
) -> None:
    """A pod label nested ~1000 levels: the checks that compare it run out of Python's
    recursion, and the review is refused with 400, never judged by half."""
    review = reviews.pod_review(reviews.pod("deep"), request_uid="deep")
    reply = await server.post(path, nested(MAX_DEPTH, review, at="labels"))
    assert (reply.status, reply.json()) == (400, {"error": TOO_DEEP})
    [line] = server.audit
    assert (line["uid"], line["allowed"], line["error"]) == ("deep", False, TOO_DEEP)


@SHARED
async def test_a_body_over_the_cap_is_413_before_it_is_read(server: Server) -> None:
    """RELIABILITY 20: past the cap, 413, which the API server takes as "not allowed"."""
    raw = request_bytes("POST", "/validate",
                        headers={"Content-Length": str(DEFAULT_MAX_BODY_BYTES + 1)},
                        length=False)
    reply = await exchange(server.port, raw, ca_pem=server.pki.ca_pem)
    assert (reply.status, reply.json()) == (
        413, {"error": f"the body exceeds {DEFAULT_MAX_BODY_BYTES} bytes"})
    assert b"allowed" not in reply.body


async def test_a_chunked_body_is_counted_as_it_arrives(start_server: StartServer) -> None:
    server = await start_server(max_body_bytes=64 * 1024)
    chunk = b"x" * 16 * 1024
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
    raw = request_bytes("POST", "/validate", body,
                        headers={"Transfer-Encoding": "chunked"}, length=False)
    reply = await exchange(server.port, raw, ca_pem=server.pki.ca_pem)
    assert (reply.status, reply.json()) == (413, {"error": "the body exceeds 65536 bytes"})


@SHARED
async def test_an_update_review_near_the_cap_is_judged(server: Server) -> None:
    """RELIABILITY 20: object and oldObject of an UPDATE, each as large as the API server
    accepts, with every character escaped as the API server's JSON encoder writes "<"."""
    obj = reviews.pod(annotations={"big": "<" * (3 * MiB - 4096)})
    sent = reviews.pod_review(obj, operation="UPDATE", old=obj)
    body = orjson.dumps(sent).replace(b"<", b"\\u003c")
    assert 35 * MiB < len(body) <= DEFAULT_MAX_BODY_BYTES
    reply = await server.post("/validate", body, timeout=60)
    assert reply.status == 200
    assert reply.json()["response"]["uid"] == sent["request"]["uid"]


async def _open(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(
        HOST, server.port, ssl=client_context(server.pki.ca_pem),
        server_hostname=SERVICE_HOSTNAME,
    )


async def _closed_by_server(reader: asyncio.StreamReader, within: float) -> bytes:
    """What the server sent before closing; fails if it keeps the connection open."""
    received = b""
    async with asyncio.timeout(within):
        try:
            while chunk := await reader.read(65536):
                received += chunk
        except (ConnectionError, OSError):
            pass
    return received


async def test_headers_trickling_in_are_cut_off(start_server: StartServer) -> None:
    server = await start_server(read_timeout=1.0)
    reader, writer = await _open(server)
    writer.write(b"POST /validate HTTP/1.1\r\nHost: x\r\n")
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        for index in range(20):  # one header byte every 0.2 s: slowloris
            if reader.at_eof():
                break
            writer.write(b"X-Slow-%d: y\r\n" % index if index % 5 == 0 else b"")
            writer.write(b"X")
            await writer.drain()
            await asyncio.sleep(0.2)
        received = await _closed_by_server(reader, within=3.0)
    finally:
        writer.close()
    assert loop.time() - started < 3.5
    assert b"allowed" not in received


async def test_a_stalled_body_is_408_within_the_read_timeout(start_server: StartServer) -> None:
    server = await start_server(read_timeout=1.0)
    reader, writer = await _open(server)
    try:
        writer.write(request_bytes("POST", "/validate", b'{"apiVersion":',
                                   headers={"Content-Length": "5000"}, length=False))
        await writer.drain()
        async with asyncio.timeout(3.0):
            status, _, body = await read_reply(reader)
    finally:
        writer.close()
    assert (status, orjson.loads(body)) == (
        408, {"error": "the body did not arrive within 1 seconds"}
    )


async def test_a_silent_connection_is_closed_after_the_handshake_timeout(
    start_server: StartServer,
) -> None:
    server = await start_server(read_timeout=1.0)
    reader, writer = await asyncio.open_connection(HOST, server.port)  # TCP, no TLS hello
    try:
        assert await _closed_by_server(reader, within=4.0) == b""
    finally:
        writer.close()


@SHARED
async def test_the_server_keeps_answering_after_hostile_requests(server: Server) -> None:
    for _, body, headers, _, _ in GOLDEN[:5]:
        await server.post("/validate", body, headers=headers)
    reply = await server.post("/validate", valid())
    assert reply.json()["response"]["allowed"] is True
