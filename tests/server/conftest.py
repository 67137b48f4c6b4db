"""Real servers for the server tests: TLS on 127.0.0.1, an ephemeral port, certificates
from webhook.certs, a copy of the example rules, and the audit log captured in a list.

These servers run inside the pytest process, whose heap (every collected test, Hypothesis,
the kubernetes client) is far larger than a server's: the full collection with which a rules
swap settles the heap takes ~0.1-0.3 s here per start, against milliseconds in a server.
So the in-process servers count their settlements instead of collecting
(:attr:`Server.settled`); tests/server/test_settle_heap.py checks the settlement itself, and
the servers started as processes (workers, drain, memory) run it as shipped.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio

from webhook.certs.files import CertificateFiles
from webhook.certs.pki import KeyPair, build_ca, build_serving_certificate, certificate_info
from webhook.server import rules as served_rules
from webhook.server.keys import AUDIT
from webhook.server.runner import RunningServer, start
from webhook.server.settings import Settings

from .wire import Reply, get, post

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_RULES = REPO / "rules"


@dataclass
class Pki:
    """A CA and the serving certificate files the server reads (rotatable)."""

    files: CertificateFiles
    ca: KeyPair

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem

    def issue(self) -> int:
        """Writes a new serving certificate and key; returns its serial."""
        serving = build_serving_certificate(
            self.ca, service="egressguard", namespace="egressguard-system",
            now=datetime.now(UTC), ips=["127.0.0.1"], dns_names=["localhost"],
        )
        self.files.write(ca_bundle=self.ca.cert_pem, ca_key=None, serving=serving)
        return certificate_info(serving.cert_pem).serial


def new_pki(directory: Path) -> Pki:
    result = Pki(CertificateFiles(directory / "certs"), build_ca(now=datetime.now(UTC)))
    result.issue()
    return result


def copy_rules(directory: Path) -> Path:
    target = directory / "rules"
    shutil.copytree(EXAMPLE_RULES, target)
    return target


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return new_pki(tmp_path)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return copy_rules(tmp_path)


@dataclass
class Server:
    running: RunningServer
    pki: Pki
    lines: list[dict[str, Any]] = field(default_factory=list)
    settlements: list[None] = field(default_factory=list)

    @property
    def settled(self) -> int:
        """How many times a rules swap has settled the heap in this test (counted, not
        collected)."""
        return len(self.settlements)

    @property
    def audit(self) -> list[dict[str, Any]]:
        """The audit lines written so far (the writer thread is waited for)."""
        assert self.running.app[AUDIT].written()
        return self.lines

    @property
    def port(self) -> int:
        return self.running.port

    async def post(self, path: str, review: Any, **kwargs: Any) -> Reply:
        return await post(self.port, path, review, ca_pem=self.pki.ca_pem, **kwargs)

    async def get(self, path: str) -> Reply:
        return await get(self.port, path, ca_pem=self.pki.ca_pem)

    async def metric(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample of /metrics, or None when absent."""
        text = (await self.get("/metrics")).body.decode()
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted((labels or {}).items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            metric, _, rest = series.partition("{")
            if metric != name:
                continue
            have = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
            if have == wanted:
                return float(value)
        return None


StartServer = Callable[..., Awaitable[Server]]


class Servers:
    """Starts servers on ``rules`` with ``pki``'s certificate and stops them all at the end;
    keyword arguments override Settings fields.

    They do not watch their files unless a test asks (``watch=True``): a watch stops only at
    its next poll, some 50 ms, which hundreds of servers would each wait for."""

    def __init__(self, pki: Pki, rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pki, self.rules = pki, rules
        self.started: list[Server] = []
        self.settlements: list[None] = []
        monkeypatch.setattr(served_rules, "settle_heap", lambda: self.settlements.append(None))

    async def start(self, *, namespaces: Any = None, **overrides: Any) -> Server:
        audit: list[dict[str, Any]] = []
        options: dict[str, Any] = {
            "rules": self.rules, "cert": self.pki.files.cert, "key": self.pki.files.key,
            "host": "127.0.0.1", "port": 0, "reload_debounce_ms": 100, "watch": False,
            "audit_sink": lambda lines: audit.extend(map(orjson.loads, lines.splitlines())),
        }
        options.update(overrides)
        running = await start(Settings(**options), namespaces=namespaces)
        server = Server(running, self.pki, audit, self.settlements)
        self.started.append(server)
        return server

    async def stop(self) -> None:
        for server in self.started:
            await server.running.stop()


@pytest.fixture
async def start_server(pki: Pki, rules_dir: Path,
                       monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StartServer]:
    """Starts servers for one test (stopped at its teardown): see :class:`Servers`."""
    servers = Servers(pki, rules_dir, monkeypatch)
    yield servers.start
    await servers.stop()


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    return await start_server()


# A test that only sends reviews to the example rules and reads the answers and audit lines
# shares one server with the other such tests of its module: ``shared_server`` instead of
# ``server`` (or ``server = server_shared_by_module()`` in the module), and the mark, which
# runs the test in the module's event loop, the server's.
SHARED = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    directory = tmp_path_factory.mktemp("shared-server")
    with pytest.MonkeyPatch.context() as monkeypatch:
        servers = Servers(new_pki(directory), copy_rules(directory), monkeypatch)
        try:
            yield await servers.start()
        finally:
            await servers.stop()


@pytest.fixture
def shared_server(module_server: Server) -> Server:
    """The module's server, its earlier tests' audit lines dropped (tests marked SHARED)."""
    assert module_server.running.app[AUDIT].written()
    module_server.lines.clear()
    return module_server


def server_shared_by_module() -> Any:
    """A ``server`` fixture that is ``shared_server``, for a module whose tests that take
    ``server`` all carry SHARED (``server = server_shared_by_module()``)."""

    @pytest.fixture(name="server")
    def shared(shared_server: Server) -> Server:
        return shared_server

    return shared
