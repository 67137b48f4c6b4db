"""wrk's review script and reading its result: fixed outputs, and short runs against a stub."""

from __future__ import annotations

import shutil
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from bench.reviews import pod_mix, read_bodies, write_bodies
from bench.servers import HOST, make_certificates
from bench.wrkload import parse_result, run_wrk

WRK_OUTPUT = """\
Running 8s test @ https://127.0.0.1:40123/mutate
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    11.02ms    3.10ms  60.01ms   80.00%
  20000 requests in 8.00s, 9.00MB read
Requests/sec:   2500.00
{"requests": 20000, "duration_us": 8000000, "bytes": 9437184, "bad_status": 3, \
"not_allowed": 2, "connect_errors": 0, "read_errors": 1, "write_errors": 0, "timeouts": 4, \
"latency_us": {"p50": 10500, "p99": 25000, "max": 60010}, "first_bad": "500 boom"}
"""


def test_the_result_line_counts_bad_answers_and_socket_errors_as_errors() -> None:
    result = parse_result(WRK_OUTPUT)
    assert result["errors"] == 3 + 2 + 1 + 4
    assert result["rps"] == 2500.0
    assert result["first_bad"] == "500 boom"


def test_output_without_the_result_line_is_an_error_not_zero_requests() -> None:
    with pytest.raises(RuntimeError, match="no result line"):
        parse_result(WRK_OUTPUT.split("{", 1)[0])
    with pytest.raises(RuntimeError, match="not JSON"):
        parse_result(WRK_OUTPUT.rsplit("{", 1)[0])


class Stub(BaseHTTPRequestHandler):
    """/mutate answers like a webhook; /empty answers 200 without "allowed"; others 404."""

    protocol_version = "HTTP/1.1"
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers["Content-Type"], body))
        status, answer = {"/mutate": (200, b'{"response": {"allowed": true}}'),
                          "/empty": (200, b"{}")}.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        pytest.skip("wrk is not installed (Debian: apt-get install wrk)")
    return found


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    certificates = make_certificates(tmp_path_factory.mktemp("wrk") / "certs")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.cert, certificates.key)
    server = ThreadingHTTPServer((HOST, 0), Stub)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def bodies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bodies(tmp_path_factory.mktemp("wrk") / "pods.jsonl", pod_mix(5))


def run(wrk: str, url: str, bodies: Path) -> dict[str, object]:
    Stub.received.clear()
    return run_wrk(wrk, url, bodies, seconds=1, connections=2, threads=1)


def test_the_reviews_are_posted_in_turn_as_json_and_webhook_answers_are_no_errors(
    wrk: str, stub: str, bodies: Path
) -> None:
    result = run(wrk, f"{stub}/mutate", bodies)
    assert result["requests"] and result["errors"] == 0
    assert {content_type for content_type, _ in Stub.received} == {"application/json"}
    assert {body for _, body in Stub.received} == set(read_bodies(bodies))


def test_a_200_without_allowed_is_an_error(wrk: str, stub: str, bodies: Path) -> None:
    result = run(wrk, f"{stub}/empty", bodies)
    assert result["requests"] and result["not_allowed"] == result["requests"]
    assert result["bad_status"] == 0 and result["first_bad"] == "200 {}"


def test_an_answer_other_than_200_is_an_error(wrk: str, stub: str, bodies: Path) -> None:
    result = run(wrk, f"{stub}/missing", bodies)
    assert result["requests"] and result["bad_status"] == result["requests"]
    assert result["errors"] >= result["requests"]
    assert result["first_bad"] == "404 not found"
