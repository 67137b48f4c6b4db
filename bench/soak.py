"""The soak: one ``egressguard serve`` under ordinary and hostile reviews for a long while,
with its rules reloaded and its certificate rotated every minute.

    python -m bench.soak [--duration 600] [--rate 50] [--every 60] [--out FILE]

Ordinary reviews (an admitted pod, a refused pod) arrive at ``--rate`` a second over
keep-alive connections and must get exactly their expected answer: any other answer, error
or timeout is a *failed legitimate review*. Once a second one hostile request arrives, in
turn: a dry-run pod requesting 130,000 unknown hosts, a 3 MB pod of escaped characters
(harmless but for its size), a burst of 200 idle connections, a client trickling its
headers, a compressed body; the hosts pod and the compressed body may be refused in any way
but never admitted. Every ``--every`` seconds
the rules change (a new revision, and every other time first a broken change, an emptied
repository, which must be refused) and a new serving certificate is written.

The server's resident memory is sampled each second; *flat* means the median of the last
fifth of the run is within 10% (or 20 MiB) of the median of the second fifth (the first is
warm-up). Bounded: the run stops after ``--duration`` seconds, and the result is one JSON
object on stdout and in ``--out``; the exit status is 1 when a legitimate review failed or
memory grew, or a hostile request was admitted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from webhook.certs.files import CertificateFiles
from webhook.certs.pki import KeyPair, build_ca, build_serving_certificate

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
EGRESS = "egressguard.io/egress"


def review(obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
    metadata = obj["metadata"]
    return {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": f"soak-{time.monotonic_ns()}", "kind": {"group": "", "version": "v1",
                                                           "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE", "namespace": metadata["namespace"],
            "name": metadata["name"], "dryRun": dry_run, "object": obj, "oldObject": None,
            "userInfo": {"username": "developer", "groups": ["system:authenticated"]},
        },
    }


def pod(name: str, *, annotations: dict[str, str] | None = None,
        **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"serviceAccountName": "checkout",
                            "containers": [{"name": "app", "image": "registry.k8s.io/pause"}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations or {}},
            "spec": body}


ORDINARY = (
    (orjson.dumps(review(pod("checkout", annotations={EGRESS: "api.stripe.com:443"}))), True),
    (orjson.dumps(review(pod("sneaky", hostNetwork=True))), False),
)


def hostile_bodies() -> list[bytes]:
    hosts = ",".join(f"h{i}.unknown.example:443" for i in range(130_000))
    env = [{"name": f"V{i}", "value": "<" * 3000} for i in range(1000)]
    return [
        orjson.dumps(review(pod("many-hosts", annotations={EGRESS: hosts}), dry_run=True)),
        orjson.dumps(review(pod("long", containers=[{"name": "app", "image": "x", "env": env}]),
                            dry_run=True)).replace(b"<", b"\\u003c"),
    ]


class Soak:
    def __init__(self, workdir: Path, args: argparse.Namespace) -> None:
        self.workdir = workdir
        self.args = args
        self.rules = workdir / "rules"
        shutil.copytree(REPO / "rules", self.rules)
        self.files = CertificateFiles(workdir / "certs")
        self.ca: KeyPair = build_ca(now=datetime.now(UTC))
        self.counts: Counter[str] = Counter()
        self.rotate()
        self.port = 0
        self.failures: list[str] = []
        self.hostile_admitted: list[str] = []
        self.rss: list[int] = []
        self.ordinary_ms: list[float] = []

    def rotate(self) -> None:
        serving = build_serving_certificate(self.ca, service="egressguard",
                                            namespace="egressguard-system",
                                            now=datetime.now(UTC), ips=[HOST])
        self.files.write(ca_bundle=self.ca.cert_pem, ca_key=None, serving=serving)
        self.counts["certificate rotations"] += 1

    async def change_rules(self, round_: int) -> None:
        if round_ % 2 == 0:  # a broken change first: emptied, then restored
            backup = self.workdir / "rules-backup"
            shutil.copytree(self.rules, backup)
            for entry in self.rules.iterdir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            await asyncio.sleep(2)
            shutil.rmtree(self.rules)
            shutil.move(backup, self.rules)
            self.counts["broken rules changes"] += 1
        stripe = self.rules / "destinations" / "stripe.yaml"
        stripe.write_text(stripe.read_text() + f"# soak round {round_}\n")
        self.counts["rules changes"] += 1

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca.cert_pem.decode())

    async def ordinary(self, session: aiohttp.ClientSession, index: int) -> None:
        body, expected = ORDINARY[index % len(ORDINARY)]
        started = time.perf_counter()
        try:
            async with session.post(f"https://{HOST}:{self.port}/validate", data=body,
                                    headers={"Content-Type": "application/json"},
                                    timeout=aiohttp.ClientTimeout(total=10)) as reply:
                answer = await reply.json()
            allowed = answer["response"]["allowed"]
            if reply.status != 200 or allowed is not expected:
                self.failures.append(f"HTTP {reply.status}: {str(answer)[:300]}")
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as error:
            self.failures.append(f"{type(error).__name__}: {error}")
        self.ordinary_ms.append((time.perf_counter() - started) * 1000)
        self.counts["ordinary reviews"] += 1

    async def hostile(self, index: int, bodies: list[bytes]) -> None:
        kind = index % 5
        context = self.context()
        with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
            async with asyncio.timeout(15):
                if kind in (0, 1):  # the long values are harmless: only their size is hostile
                    await self._raw(context, bodies[kind], {}, must_refuse=kind == 0)
                elif kind == 2:
                    await self._idle(context, 200)
                elif kind == 3:
                    await self._trickle(context)
                else:
                    await self._raw(context, gzip.compress(ORDINARY[0][0]),
                                    {"Content-Encoding": "gzip"}, must_refuse=True)
        self.counts["hostile requests"] += 1

    async def _raw(self, context: ssl.SSLContext, body: bytes, headers: dict[str, str], *,
                   must_refuse: bool) -> None:
        reader, writer = await asyncio.open_connection(HOST, self.port, ssl=context)
        head = "".join(f"{k}: {v}\r\n" for k, v in {
            "Host": "egressguard", "Content-Type": "application/json",
            "Content-Length": str(len(body)), "Connection": "close", **headers}.items())
        writer.write(f"POST /validate HTTP/1.1\r\n{head}\r\n".encode() + body)
        await writer.drain()
        answer = await reader.read()
        writer.close()
        if must_refuse and b'"allowed":true' in answer:
            self.hostile_admitted.append(answer[-300:].decode(errors="replace"))

    async def _idle(self, context: ssl.SSLContext, count: int) -> None:
        writers = []
        for _ in range(count):
            with contextlib.suppress(OSError):
                writers.append((await asyncio.open_connection(HOST, self.port, ssl=context))[1])
        await asyncio.sleep(2)
        for writer in writers:
            writer.close()

    async def _trickle(self, context: ssl.SSLContext) -> None:
        _, writer = await asyncio.open_connection(HOST, self.port, ssl=context)
        for byte in b"POST /validate HTTP/1.1\r\nHost: x\r\n":
            writer.write(bytes([byte]))
            await asyncio.sleep(0.5)
        writer.close()

    async def run(self, server: subprocess.Popen[bytes]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        bodies = hostile_bodies()
        tasks: set[asyncio.Task[None]] = set()
        connector = aiohttp.TCPConnector(ssl=self.context(), limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:
            index = second = round_ = 0
            while (now := loop.time() - started) < self.args.duration:
                if now >= second:
                    self.rss.append(_rss(server.pid))
                    tasks.add(asyncio.create_task(self.hostile(second, bodies)))
                    second += 1
                    if second % self.args.every == 0:
                        round_ += 1
                        self.rotate()
                        tasks.add(asyncio.create_task(self.change_rules(round_)))
                task = asyncio.create_task(self.ordinary(session, index))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
                await asyncio.sleep(max(0.0, started + index / self.args.rate - loop.time()))
            await asyncio.gather(*tasks)

    def result(self) -> dict[str, Any]:
        fifth = max(1, len(self.rss) // 5)
        early = statistics.median(self.rss[fifth:2 * fifth] or self.rss)
        late = statistics.median(self.rss[-fifth:])
        flat = late <= max(early * 1.10, early + 20 * 2**20)
        latencies = sorted(self.ordinary_ms) or [0.0]
        return {
            "duration_s": self.args.duration, "rate": self.args.rate, "every_s": self.args.every,
            "counts": dict(self.counts), "failed_legitimate_reviews": len(self.failures),
            "failures": self.failures[:20],
            "hostile_admitted": self.hostile_admitted[:20],
            "ordinary_ms": {"p50": round(latencies[len(latencies) // 2], 2),
                            "p99": round(latencies[int(len(latencies) * 0.99)], 2),
                            "max": round(latencies[-1], 2)},
            "rss_mib": {"start": round(self.rss[0] / 2**20, 1) if self.rss else 0,
                        "early_median": round(early / 2**20, 1),
                        "late_median": round(late / 2**20, 1),
                        "peak": round(max(self.rss, default=0) / 2**20, 1)},
            "rss_flat": flat,
            "ok": flat and not self.failures and not self.hostile_admitted,
        }


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def _ready(port: int, context: ssl.SSLContext, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise RuntimeError("egressguard serve exited")
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            reader, writer = await asyncio.open_connection(HOST, port, ssl=context)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
            if answer.startswith(b"HTTP/1.1 200"):
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("egressguard serve never became ready")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=600, help="seconds (default 600)")
    parser.add_argument("--rate", type=float, default=50, help="ordinary reviews a second")
    parser.add_argument("--every", type=int, default=60,
                        help="seconds between rules changes and certificate rotations")
    parser.add_argument("--out", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="egressguard-soak-") as folder:
        workdir = Path(folder)
        soak = Soak(workdir, args)
        soak.port = free_port()
        argv_serve = [sys.executable, "-m", "webhook", "serve", "--rules", str(soak.rules),
                      "--cert", str(soak.files.cert), "--key", str(soak.files.key),
                      "--host", HOST, "--port", str(soak.port), "--namespaces", "none",
                      "--reload-debounce-ms", "300"]
        with (workdir / "audit.jsonl").open("wb") as audit, \
                (workdir / "serve.log").open("wb") as log:
            server = subprocess.Popen(argv_serve, cwd=REPO, stdout=audit, stderr=log)
            try:
                asyncio.run(_ready(soak.port, soak.context(), server))
                asyncio.run(soak.run(server))
            finally:
                server.terminate()
                server.wait(timeout=30)
        result = soak.result()
        result["refused_rules_changes_logged"] = (workdir / "serve.log").read_text().count(
            "refused as a broken change")
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0 if result["ok"] else 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    raise SystemExit(main())
