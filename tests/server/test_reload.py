"""Certificate and rules reload while requests flow (RELIABILITY 18, 26, 27).

Each test runs a bounded background load (at most LOAD_LIMIT requests per worker, stopped
as soon as the change is observed) and requires zero failed requests.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from webhook.server.keys import RULES

from . import reviews
from .conftest import EXAMPLE_RULES, Server, StartServer
from .wire import HOST, SERVICE_HOSTNAME, client_context, read_reply, request_bytes

LOAD_WORKERS = 4
LOAD_LIMIT = 2000
CHANGE_TIMEOUT = 15.0


@pytest.fixture
def start_server(start_server: StartServer) -> StartServer:
    """These servers watch their rules and certificate: the tests change the files."""

    async def watching(**overrides: Any) -> Server:
        return await start_server(**{"watch": True, **overrides})

    return watching


@dataclass
class Load:
    """Requests sent in the background: every answer must be the expected one."""

    server: Server
    review: Callable[[], dict[str, Any]]
    failures: list[str] = field(default_factory=list)
    serials: set[int] = field(default_factory=set)
    answers: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _worker(self) -> None:
        for _ in range(LOAD_LIMIT):
            if self._stop.is_set():
                return
            try:
                reply = await self.server.post("/validate", self.review())
                if reply.status != 200 or "response" not in reply.json():
                    self.failures.append(f"HTTP {reply.status}: {reply.body[:200]!r}")
                self.serials.add(reply.serial)
                self.answers += 1
            except Exception as error:  # any failed exchange is a failure of the test
                self.failures.append(repr(error))

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(LOAD_WORKERS)]
        await asyncio.sleep(0.2)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(0.2)  # keep going a moment after the change
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CHANGE_TIMEOUT
    while not await check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def readiness(server: Server) -> dict[str, Any]:
    """What the server serves (from its state: /readyz reveals none of it), after a probe."""
    await server.get("/readyz")
    ready = (await server.get("/readyz")).status == 200
    state = server.running.app[RULES]
    snapshot = state.snapshot
    return {
        "ready": ready,
        "rules": {"generation": snapshot.generation, "revision": snapshot.revision}
        if snapshot is not None else None,
        "rulesError": list(state.last_error),
    }


# -- certificates ----------------------------------------------------------------------


async def test_certificate_rotation_drops_no_request(server: Server) -> None:
    old = (await server.get("/healthz")).serial
    async with Load(server, reviews.secret_review) as load:
        new = server.pki.issue()

        async def new_connections_see_the_new_certificate() -> bool:
            return (await server.get("/healthz")).serial == new

        await eventually(new_connections_see_the_new_certificate, "the new certificate")
    assert load.failures == []
    assert {old, new} <= load.serials
    assert load.answers > 0


async def test_an_open_connection_survives_rotation(server: Server) -> None:
    reader, writer = await asyncio.open_connection(
        HOST, server.port, ssl=client_context(server.pki.ca_pem), server_hostname=SERVICE_HOSTNAME
    )
    try:
        def keep_alive(review: dict[str, Any]) -> bytes:
            import orjson

            return request_bytes("POST", "/validate", orjson.dumps(review),
                                 headers={"Connection": "keep-alive"})

        writer.write(keep_alive(reviews.secret_review()))
        assert (await read_reply(reader))[0] == 200
        new = server.pki.issue()
        await eventually(lambda: _serial_is(server, new), "the new certificate")
        writer.write(keep_alive(reviews.secret_review()))
        status, _, body = await read_reply(reader)
        assert status == 200 and b'"allowed":true' in body
    finally:
        writer.close()


async def _serial_is(server: Server, serial: int) -> bool:
    return (await server.get("/healthz")).serial == serial


async def test_a_key_that_does_not_match_keeps_the_old_certificate(server: Server) -> None:
    old = (await server.get("/healthz")).serial
    other = server.pki.files.key.read_bytes()
    server.pki.issue()
    new_key = server.pki.files.key.read_bytes()
    server.pki.files.key.write_bytes(other)  # new certificate, old key: a broken pair
    await eventually(
        lambda: _metric_at_least(server, "egressguard_reload_errors_total",
                                 {"what": "certificate"}, 1),
        "the reload error",
    )
    assert (await server.get("/healthz")).serial == old
    server.pki.files.key.write_bytes(new_key)
    assert new_key != other


async def _metric_at_least(server: Server, name: str, labels: dict[str, str],
                           value: float) -> bool:
    return (await server.metric(name, labels) or 0) >= value


# -- rules -----------------------------------------------------------------------------


def default_sa_wants_stripe() -> dict[str, Any]:
    """Refused by the example rules; admitted once shop/default is granted Stripe."""
    return reviews.pod_review(
        reviews.pod("payer", annotations={"egressguard.io/egress": "api.stripe.com:443"})
    )


def grant_default_sa_stripe(rules: Path) -> None:
    grant = rules / "services" / "shop" / "default" / "api.stripe.com:443.rule"
    grant.write_text("reason: test grant\n")


async def test_a_good_rules_change_is_served_without_dropping_requests(
    server: Server, rules_dir: Path
) -> None:
    before = await readiness(server)
    assert before["rules"]["generation"] == 1
    assert server.settled == 1
    refused = await server.post("/validate", default_sa_wants_stripe())
    assert refused.json()["response"]["allowed"] is False
    async with Load(server, reviews.secret_review) as load:
        grant_default_sa_stripe(rules_dir)

        async def reloaded() -> bool:
            return bool((await readiness(server))["rules"]["generation"] == 2)

        await eventually(reloaded, "the rules reload")
    assert load.failures == []
    after = await readiness(server)
    assert after["rules"]["revision"] != before["rules"]["revision"]
    assert server.settled == 2, "each swap settles the heap once"
    admitted = await server.post("/validate", default_sa_wants_stripe())
    assert admitted.json()["response"]["allowed"] is True
    assert await server.metric("egressguard_rules_generation") == 2
    assert await server.metric("egressguard_rules_info",
                               {"revision": after["rules"]["revision"]}) == 1


async def test_a_broken_rules_change_keeps_the_old_rules(server: Server, rules_dir: Path) -> None:
    before = await readiness(server)
    async with Load(server, lambda: reviews.pod_review(reviews.stripe_pod())) as load:
        (rules_dir / "destinations" / "broken.yaml").write_text(
            "apiVersion: egressguard.io/v1alpha1\nkind: Destination\nmetadata: {name: broken\n"
        )
        await eventually(
            lambda: _metric_at_least(server, "egressguard_reload_errors_total",
                                     {"what": "rules"}, 1),
            "the failed reload",
        )
    assert load.failures == []
    after = await readiness(server)
    assert after["ready"] is True
    assert after["rules"] == before["rules"]
    assert server.settled == 1, "a change that does not load swaps nothing"
    assert any("destinations/broken.yaml" in line for line in after["rulesError"])
    reply = await server.post("/validate", reviews.pod_review(reviews.stripe_pod()))
    assert reply.json()["response"]["allowed"] is True


async def test_rules_in_a_configmap_volume_reload_on_the_data_swap(
    start_server: StartServer, tmp_path: Path
) -> None:
    """The kubelet's layout: entries link into ``..data``, a link swapped by rename."""
    mount = tmp_path / "mount"
    first = mount / "..2026_01_01_00_00_00.000000001"
    shutil.copytree(EXAMPLE_RULES, first)
    os.symlink(first.name, mount / "..data")
    for entry in ("config.yaml", "destinations", "services", "exceptions"):
        os.symlink(f"..data/{entry}", mount / entry)
    server = await start_server(rules=mount)
    second = mount / "..2026_01_01_00_01_00.000000001"
    shutil.copytree(first, second, symlinks=True)
    grant_default_sa_stripe(second)
    os.symlink(second.name, mount / "..data_tmp")
    os.replace(mount / "..data_tmp", mount / "..data")
    shutil.rmtree(first)
    await eventually(lambda: _generation_is(server, 2), "the ConfigMap swap")
    reply = await server.post("/validate", default_sa_wants_stripe())
    assert reply.json()["response"]["allowed"] is True


async def test_rules_behind_a_git_sync_link_reload_on_the_link_swap(
    start_server: StartServer, tmp_path: Path
) -> None:
    """git-sync swaps ``<root>/current`` to a new worktree; the rules are a folder in it."""
    root = tmp_path / "git"
    first = root / ".worktrees" / "aaaa"
    shutil.copytree(EXAMPLE_RULES, first / "policy")
    os.symlink(".worktrees/aaaa", root / "current")
    server = await start_server(rules=root / "current" / "policy")
    second = root / ".worktrees" / "bbbb"
    shutil.copytree(first, second)
    grant_default_sa_stripe(second / "policy")
    os.symlink(".worktrees/bbbb", root / "current.tmp")
    os.replace(root / "current.tmp", root / "current")
    await eventually(lambda: _generation_is(server, 2), "the git-sync swap")
    reply = await server.post("/validate", default_sa_wants_stripe())
    assert reply.json()["response"]["allowed"] is True


async def _generation_is(server: Server, generation: int) -> bool:
    rules = (await readiness(server))["rules"]
    return bool(rules is not None and rules["generation"] == generation)


async def test_rules_that_appear_after_start_are_loaded(
    start_server: StartServer, tmp_path: Path
) -> None:
    """git-sync's first checkout may land after the webhook started: not ready until then."""
    root = tmp_path / "git"
    root.mkdir()
    server = await start_server(rules=root / "current" / "policy")
    assert (await server.get("/readyz")).status == 503
    shutil.copytree(EXAMPLE_RULES, root / ".worktrees" / "aaaa" / "policy")
    os.symlink(".worktrees/aaaa", root / "current")
    await eventually(lambda: _generation_is(server, 1), "the first checkout")
    assert (await server.get("/readyz")).status == 200


# -- the sanity floor (RELIABILITY 33) -----------------------------------------------------


def _empty(rules: Path) -> None:
    for entry in rules.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _without_gateways(rules: Path) -> None:
    config = rules / "config.yaml"
    text = config.read_text()
    start, end = text.index("  gateways:"), text.index("  mesh:")
    config.write_text(text[:start] + text[end:])
    stripe = rules / "destinations" / "stripe.yaml"  # names a gateway: would not load
    stripe.write_text(stripe.read_text().replace("  gateway: payments-egressgateway\n", ""))


def _without_grants(rules: Path) -> None:
    shutil.rmtree(rules / "services")


@pytest.mark.parametrize(
    ("change", "reason"),
    [(_empty, "no-gateways"), (_without_gateways, "no-gateways"),
     (_without_grants, "large-drop")],
    ids=["empty checkout", "no gateways", "most grants gone"],
)
async def test_a_broken_change_that_loads_is_refused_and_the_last_good_rules_answer(
    server: Server, rules_dir: Path, change: Callable[[Path], None], reason: str,
) -> None:
    impersonator = reviews.pod_review(reviews.pod("fake-gateway",
                                                  labels={"istio": "egressgateway"}))
    assert (await server.post("/validate", impersonator)).json()["response"]["allowed"] is False
    before = await readiness(server)
    async with Load(server, lambda: reviews.pod_review(reviews.stripe_pod())) as load:
        change(rules_dir)
        await eventually(
            lambda: _metric_at_least(server, "egressguard_rules_refused_total",
                                     {"reason": reason}, 1),
            "the refused change",
        )
    assert load.failures == []
    after = await readiness(server)
    assert after["ready"] is True and after["rules"] == before["rules"]
    assert after["rulesError"]  # kept for the logs, never shown on /readyz
    reply = await server.post("/validate", impersonator)
    assert reply.json()["response"]["allowed"] is False
    assert "gateway-impersonation" in reply.json()["response"]["status"]["message"]


async def test_each_request_judges_and_records_one_snapshot_though_a_swap_lands_midway(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RELIABILITY 27: the swap lands while a request is being judged; the request still
    judges with the snapshot it read first, and its audit line names that snapshot's
    revision. A handler that reads the served rules twice fails here."""
    from dataclasses import replace

    from webhook.server import admission

    state = server.running.app[RULES]
    first = state.snapshot
    assert first is not None
    other = replace(first, policy=replace(first.policy, revision="swapped-midway"),
                    revision="swapped-midway", generation=first.generation + 1)
    judged_with: list[str] = []
    real = admission.evaluate

    def swapping(request: Any, policy: Any, **kwargs: Any) -> Any:
        judged_with.append(policy.revision)
        state.snapshot = other  # the reload lands now
        return real(request, policy, **kwargs)

    monkeypatch.setattr(admission, "evaluate", swapping)
    reply = await server.post("/validate", reviews.pod_review(reviews.stripe_pod()))
    assert reply.json()["response"]["allowed"] is True
    assert judged_with == [first.revision]
    assert server.audit[-1]["rulesRevision"] == first.revision
