"""``egressguard serve`` in a subprocess, under the limits a container gives it (open files),
for the tests that must see the whole process: descriptors, memory, signals."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from .conftest import Pki
from .wire import exchange, request_bytes

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    port: int
    pki: Pki

    def rss_bytes(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    async def ready(self, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            assert self.process.poll() is None, "egressguard serve exited"
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
                reply = await exchange(self.port, request_bytes("GET", "/readyz"),
                                       ca_pem=self.pki.ca_pem, timeout=2.0)
                if reply.status == 200:
                    return
            assert loop.time() < deadline, "egressguard serve never became ready"
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def serving(pki: Pki, rules: Path, workdir: Path, *, open_files: int | None = None,
                  extra: tuple[str, ...] = ()) -> AsyncIterator[ServeProcess]:
    """``egressguard serve`` on 127.0.0.1, with soft and hard RLIMIT_NOFILE ``open_files``;
    one worker process unless ``extra`` says ``--workers``."""
    port = free_port()

    def limits() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    argv = [sys.executable, "-m", "webhook", "serve", "--rules", str(rules),
            "--cert", str(pki.files.cert), "--key", str(pki.files.key),
            "--host", "127.0.0.1", "--port", str(port), "--namespaces", "none",
            *(() if "--workers" in extra else ("--workers", "1")), *extra]
    with (workdir / "audit.jsonl").open("wb") as audit, \
            (workdir / "serve.log").open("wb") as log:
        process = subprocess.Popen(argv, cwd=REPO, stdout=audit, stderr=log,
                                   preexec_fn=limits)
        server = ServeProcess(process, port, pki)
        try:
            await server.ready()
            yield server
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
