"""The servers under test, each its own process on 127.0.0.1: start, probe, measure, stop.

egressguard's server-side latency is read two ways: exactly, from the ``duration`` of each
line of its audit log (stdout, written to a file as a log collector would read it), and
from its Prometheus histogram, whose buckets (1 ms, 2.5 ms, ...) are coarse.

CPU and memory are read from ``/proc/<pid>`` (Linux): CPU seconds are user + system time
of the server process, RSS is its resident set now (``VmRSS``) and at its peak (``VmHWM``).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from webhook.certs.files import CA_CERT, TLS_CERT, TLS_KEY, CertificateFiles
from webhook.certs.pki import build_ca, build_serving_certificate

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"
Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path) -> Certificates:
    """A CA and a serving certificate for 127.0.0.1, made by egressguard's own PKI code."""
    ca = build_ca(now=datetime.now(UTC), common_name="egressguard bench CA")
    serving = build_serving_certificate(
        ca, service="egressguard", namespace="egressguard-system", now=datetime.now(UTC),
        dns_names=["localhost"], ips=[HOST],
    )
    CertificateFiles(folder).write(ca_bundle=ca.cert_pem, ca_key=None, serving=serving)
    return Certificates(folder / CA_CERT, folder / TLS_CERT, folder / TLS_KEY)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Histogram:
    """One Prometheus histogram series: cumulative counts by upper bound, in seconds."""

    buckets: tuple[tuple[float, float], ...]

    def minus(self, earlier: Histogram) -> Histogram:
        before = dict(earlier.buckets)
        return Histogram(tuple((le, count - before.get(le, 0.0)) for le, count in self.buckets))

    @property
    def count(self) -> float:
        return self.buckets[-1][1] if self.buckets else 0.0

    def quantile(self, q: float) -> float | None:
        """Like PromQL's histogram_quantile: linear within the bucket, in milliseconds."""
        total = self.count
        if total <= 0:
            return None
        rank = q * total
        lower, below = 0.0, 0.0
        for le, cumulative in self.buckets:
            if cumulative >= rank:
                if le == float("inf"):
                    return round(lower * 1000, 3)
                inside = cumulative - below
                fraction = (rank - below) / inside if inside else 1.0
                return round((lower + (le - lower) * fraction) * 1000, 3)
            lower, below = le, cumulative
        return None

    def bound(self, q: float) -> float | None:
        """The upper bound (ms) of the bucket holding the ``q`` quantile: what is certain."""
        total = self.count
        if total <= 0:
            return None
        for le, cumulative in self.buckets:
            if cumulative >= q * total:
                return le * 1000
        return None

    def share_within(self, seconds: float) -> float | None:
        """The fraction of observations at or under a bucket bound (exact, no interpolation)."""
        total = self.count
        for le, cumulative in self.buckets:
            if abs(le - seconds) < 1e-12:
                return cumulative / total if total else None
        return None


_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][\w:]*)\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_histogram(text: str, name: str, labels: dict[str, str]) -> Histogram:
    """The ``<name>_bucket`` series whose labels include ``labels``, summed over the rest."""
    sums: dict[float, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != f"{name}_bucket":
            continue
        found = dict(_LABEL.findall(match["labels"]))
        if any(found.get(k) != v for k, v in labels.items()):
            continue
        le = float(found["le"].replace("+Inf", "inf"))
        sums[le] = sums.get(le, 0.0) + float(match["value"])
    return Histogram(tuple(sorted(sums.items())))


@dataclass
class Server:
    """A server process under test and how to reach and read it."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    path: str  # where reviews are POSTed
    ready_path: str
    certificates: Certificates
    metric: tuple[str, dict[str, str]] | None = None  # server-side latency histogram
    log_file: Path | None = None
    audit_file: Path | None = None  # egressguard's audit log: one line, one duration each
    started: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}{self.path}"

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificates.ca))

    def request(self, method: str, path: str, body: bytes | None = None,
                timeout: float = 10.0) -> tuple[int, bytes]:
        connection = http.client.HTTPSConnection(HOST, self.port, context=self.context(),
                                                 timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def probe(self) -> bool:
        """Whether the readiness probe answers 200 now; raises if the process has exited."""
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}"
                               f"{self._log_tail()}")
        try:
            status, _ = self.request("GET", self.ready_path, timeout=2.0)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200

    def wait_ready(self, timeout: float) -> float:
        """Seconds from start until the server answered its readiness probe with 200."""
        return wait_all_ready([self], timeout=timeout)[self.name]

    def _log_tail(self) -> str:
        if self.log_file is None or not self.log_file.exists():
            return ""
        lines = self.log_file.read_text(errors="replace").splitlines()[-15:]
        return ":\n  " + "\n  ".join(lines) if lines else ""

    def processes(self) -> list[int]:
        """The process started and its descendants (``serve --workers``' workers)."""
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    queue.extend(int(child) for child in
                                 (task / "children").read_text().split())
        return found

    def cpu_seconds(self) -> float:
        """CPU of the process and its descendants (live ones: read before they stop)."""
        total = 0
        for pid in self.processes():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / CLOCK_TICKS

    def memory(self) -> dict[str, float]:
        """RSS now and at peak, in MiB: of each process, summed over the process tree;
        ``peak_rss_mib_per_process`` the largest peak of any one of them."""
        values: dict[str, float] = {"VmRSS": 0.0, "VmHWM": 0.0}
        largest = 0.0
        for pid in self.processes():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    key, _, value = line.partition(":")
                    if key in values:
                        mib = int(value.split()[0]) / 1024
                        values[key] += mib
                        if key == "VmHWM":
                            largest = max(largest, mib)
        return {"rss_mib": round(values["VmRSS"], 1), "peak_rss_mib": round(values["VmHWM"], 1),
                "peak_rss_mib_per_process": round(largest, 1)}

    def audit_position(self) -> int:
        return self.audit_file.stat().st_size if self.audit_file is not None else 0

    def audit_durations(self, since: int) -> list[float]:
        """The ``duration`` (seconds) of each /mutate answer audited after ``since``."""
        if self.audit_file is None:
            return []
        with self.audit_file.open("rb") as audit:
            audit.seek(since)
            lines = audit.read().split(b"\n")
        durations = []
        for line in lines:
            if line:
                entry = orjson.loads(line)
                if entry.get("webhook") == "mutate":
                    durations.append(float(entry["duration"]))
        return durations

    def latency_histogram(self) -> Histogram | None:
        if self.metric is None:
            return None
        try:
            status, body = self.request("GET", "/metrics")
        except (OSError, http.client.HTTPException):
            return None
        if status != 200:
            return None
        name, labels = self.metric
        histogram = parse_histogram(body.decode(), name, labels)
        return histogram if histogram.buckets else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def wait_all_ready(servers: Sequence[Server], *, timeout: float) -> dict[str, float]:
    """Seconds from each server's start until it was ready, probing all of them in turn."""
    pending = list(servers)
    ready: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while pending:
        for server in list(pending):
            if server.probe():
                ready[server.name] = round(time.monotonic() - server.started, 1)
                pending.remove(server)
        if pending and time.monotonic() > deadline:
            names = ", ".join(server.name for server in pending)
            raise RuntimeError(f"not ready within {timeout:.0f} s: {names}"
                               f"{pending[0]._log_tail()}")
        time.sleep(0.05)
    return ready


def _spawn(command: Sequence[str], log_file: Path,
           stdout_file: Path | None = None) -> subprocess.Popen[bytes]:
    with log_file.open("wb") as log, \
            (stdout_file.open("wb") if stdout_file else open(os.devnull, "wb")) as out:
        return subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def start_egressguard(name: str, rules: Path, certificates: Certificates,
                      workdir: Path, *, workers: int = 1,
                      options: Sequence[str] = ("--no-watch",)) -> Server:
    """``egressguard serve`` as deployed: uvloop, audit lines on stdout, no cluster; one
    worker process unless told otherwise (CPU is read from the process started); rules
    not watched unless ``options`` leave out ``--no-watch``."""
    port = free_port()
    log_file = workdir / f"{name}.log"
    audit_file = workdir / f"{name}.audit.jsonl"
    command = [sys.executable, "-m", "webhook", "serve", "--rules", str(rules),
               "--cert", str(certificates.cert), "--key", str(certificates.key),
               "--host", HOST, "--port", str(port), "--namespaces", "none",
               "--log-level", "WARNING", "--workers", str(workers), *options]
    return Server(name, _spawn(command, log_file, audit_file), port, "/mutate", "/readyz",
                  certificates,
                  metric=("egressguard_admission_duration_seconds", {"webhook": "mutate"}),
                  log_file=log_file, audit_file=audit_file)


def start_null(certificates: Certificates, workdir: Path) -> Server:
    port = free_port()
    log_file = workdir / "null.log"
    command = [sys.executable, "-m", "bench.null", "--cert", str(certificates.cert),
               "--key", str(certificates.key), "--host", HOST, "--port", str(port)]
    return Server("null", _spawn(command, log_file), port, "/mutate", "/healthz", certificates,
                  log_file=log_file)


def start_opa(binary: Path, bundle: Path, certificates: Certificates, workdir: Path,
              *, query_path: str) -> Server:
    """``opa run --server`` over HTTPS with the same certificate, no decision logs."""
    port = free_port()
    log_file = workdir / "opa.log"
    command = [str(binary), "run", "--server", "--addr", f"{HOST}:{port}",
               "--tls-cert-file", str(certificates.cert),
               "--tls-private-key-file", str(certificates.key),
               "--log-level", "error", "--disable-telemetry", str(bundle)]
    return Server("opa", _spawn(command, log_file), port, query_path, "/health", certificates,
                  metric=("http_request_duration_seconds", {"handler": "v0/data"}),
                  log_file=log_file)
