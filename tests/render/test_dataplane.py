"""The rendered per-destination Envoy, run for real, between a client and a local upstream.

partner-api is the interesting destination: pods speak plain HTTP on port 80, the Envoy
refuses requests whose body carries a blocked pattern (Lua), and originates TLS to the
destination, checking its certificate. The config under test is the rendered one; only
addresses change (``EnvoyOverrides``): the listener on 127.0.0.1 at a port the kernel picks,
every upstream at a TLS server on 127.0.0.1 holding a certificate for the real name.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.example_policy import GOLDEN_NOW, example_policy
from tests.render.envoy_process import RunningEnvoy, running_envoy
from webhook.certs.pki import build_ca, build_serving_certificate
from webhook.model.rules import Destination, Policy, Port
from webhook.render import EnvoyOverrides, RenderOptions, bootstrap, plan_destinations
from webhook.render.dlp import lua_source
from webhook.render.envoy_config import HCM, LUA, ROUTER
from webhook.render.plan import DestinationPlan
from webhook.render.yamltext import yaml_text

HOST = "orders.partner.example"


@dataclass(frozen=True, slots=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_pki(directory: Path, *, server_name: str) -> Pki:
    """A CA and a server certificate for ``server_name`` (and 127.0.0.1) it signed."""
    now = datetime.now(UTC)
    ca = build_ca(now=now, common_name="egressguard test CA")
    serving = build_serving_certificate(
        ca, service="upstream", namespace="test", now=now,
        dns_names=[server_name], ips=["127.0.0.1"],
    )
    pki = Pki(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    pki.ca_file.write_bytes(ca.cert_pem)
    pki.cert_file.write_bytes(serving.cert_pem)
    pki.key_file.write_bytes(serving.key_pem)
    return pki


@dataclass
class Upstream:
    """A server standing in for the destination; it records what reached it."""

    port: int = 0
    requests: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)


@asynccontextmanager
async def serving_upstream(pki: Pki | None) -> AsyncIterator[Upstream]:
    """On 127.0.0.1 at a port the kernel picks; TLS with ``pki``'s certificate if given."""
    state = Upstream()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        state.requests.append((request.method, request.path, request.host, body))
        return web.Response(text=f"upstream saw {request.method} {request.path}")

    context = None
    if pki is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.cert_file, pki.key_file)

        def remember_sni(_socket: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            state.server_names.append(name)

        context.sni_callback = remember_sni
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    state.port = runner.addresses[0][1]
    try:
        yield state
    finally:
        await runner.cleanup()


def plan_of(policy: Policy, name: str) -> DestinationPlan:
    plans = plan_destinations(policy, RenderOptions(now=GOLDEN_NOW))
    return next(plan for plan in plans if plan.name == name)


@contextmanager
def envoy_in_front_of(
    plan: DestinationPlan, upstream: Upstream, workdir: Path, *, ca_file: Path | None = None
) -> Iterator[RunningEnvoy]:
    """The rendered config of ``plan``, its addresses pointed at 127.0.0.1 (and nothing else)."""
    overrides = EnvoyOverrides(
        listener_address="127.0.0.1",
        listener_ports={port.number: 0 for port in plan.ports},
        upstream=("127.0.0.1", upstream.port),
        trusted_ca=str(ca_file) if ca_file else None,
        admin_port=0,
    )
    config = workdir / "envoy.yaml"
    rendered = bootstrap(plan, RenderOptions(now=GOLDEN_NOW), overrides=overrides)
    config.write_text(yaml_text(rendered))
    with running_envoy(config, workdir) as envoy:
        yield envoy


@dataclass(frozen=True, slots=True)
class Gateway:
    url: str
    upstream: Upstream


@pytest.fixture
async def partner_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    """partner-api's Envoy, originating TLS to an upstream holding a certificate for its name."""
    pki = make_pki(tmp_path, server_name=HOST)
    async with serving_upstream(pki) as upstream:
        plan = plan_of(example_policy(), "partner-api")
        with envoy_in_front_of(plan, upstream, tmp_path, ca_file=pki.ca_file) as envoy:
            yield Gateway(f"http://127.0.0.1:{envoy.listener_port('http_80')}", upstream)


async def send(
    gateway: Gateway, method: str, path: str, *, host: str = HOST, body: bytes | None = None
) -> tuple[int, str]:
    timeout = aiohttp.ClientTimeout(total=15)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(method, gateway.url + path, headers={"Host": host}, data=body) as reply,
    ):
        return reply.status, await reply.text()


async def test_a_get_passes_and_leaves_over_tls_to_the_destination_name(
    partner_gateway: Gateway,
) -> None:
    status, text = await send(partner_gateway, "GET", "/orders/42")
    assert (status, text) == (200, "upstream saw GET /orders/42")
    assert [r[:3] for r in partner_gateway.upstream.requests] == [("GET", "/orders/42", HOST)]
    assert partner_gateway.upstream.server_names == [HOST]  # SNI of the originated TLS


@pytest.mark.parametrize(
    "body",
    [
        b'{"key": "AKIAIOSFODNN7EXAMPLE"}',
        b"order=42&attachment=-----BEGIN RSA PRIVATE KEY-----\nMIIEow...",
    ],
    ids=["aws-access-key", "rsa-private-key"],
)
async def test_a_post_carrying_a_blocked_pattern_is_refused_with_400_and_never_leaves(
    partner_gateway: Gateway, body: bytes
) -> None:
    status, text = await send(partner_gateway, "POST", "/orders", body=body)
    assert status == 400
    assert "refused by egressguard" in text and "partner-api" in text
    assert partner_gateway.upstream.requests == []


async def test_a_clean_post_passes_with_its_body(partner_gateway: Gateway) -> None:
    body = b'{"order": 42, "total": "19.99"}'
    status, _ = await send(partner_gateway, "POST", "/orders", body=body)
    assert status == 200
    assert partner_gateway.upstream.requests == [("POST", "/orders", HOST, body)]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "GET"])
async def test_a_blocked_pattern_is_refused_whatever_the_method_that_carries_it(
    partner_gateway: Gateway, method: str
) -> None:
    status, _ = await send(partner_gateway, method, "/orders/42", body=b'{"key": "AKIA"}')
    assert status == 400
    assert partner_gateway.upstream.requests == []


async def test_a_get_without_a_body_passes(partner_gateway: Gateway) -> None:
    status, _ = await send(partner_gateway, "GET", "/orders/42")
    assert status == 200


async def test_a_request_naming_another_host_is_not_routed(partner_gateway: Gateway) -> None:
    status, _ = await send(partner_gateway, "GET", "/", host="evil.example")
    assert status == 404
    assert partner_gateway.upstream.requests == []


async def test_tls_origination_refuses_an_upstream_certified_for_another_name(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path, server_name="impostor.example")
    async with serving_upstream(pki) as upstream:
        plan = plan_of(example_policy(), "partner-api")
        with envoy_in_front_of(plan, upstream, tmp_path, ca_file=pki.ca_file) as envoy:
            gateway = Gateway(f"http://127.0.0.1:{envoy.listener_port('http_80')}", upstream)
            status, _ = await send(gateway, "GET", "/orders/42")
            stats = envoy.admin_get("/stats?filter=ssl.fail_verify_san")
    assert status == 503
    assert upstream.server_names == [HOST]  # it did connect and ask for the right name,
    assert "ssl.fail_verify_san: 1" in stats  # then refused the certificate's name
    assert upstream.requests == []


TRICKY = ('say "hi"', "back\\slash", "]]--", "%d+", "caf\u00e9", "line\nbreak")


async def test_patterns_are_matched_as_literal_bytes_whatever_they_contain(
    tmp_path: Path,
) -> None:
    """Quotes, backslashes, Lua pattern characters and UTF-8 can neither break the script
    nor act as patterns: a plain-HTTP destination with such patterns blocks each of them
    and passes a body where they do not occur literally."""
    destination = Destination(
        "tricky", ("tricky.example",), (Port(8080, "HTTP"),), "istio-egressgateway",
        block_body_patterns=TRICKY,
    )
    policy = example_policy(destinations=(destination,), grants=())
    async with serving_upstream(None) as upstream:
        with envoy_in_front_of(plan_of(policy, "tricky"), upstream, tmp_path) as envoy:
            gateway = Gateway(f"http://127.0.0.1:{envoy.listener_port('http_8080')}", upstream)
            for pattern in TRICKY:
                body = f"before {pattern} after".encode()
                status, _ = await send(gateway, "POST", "/", host="tricky.example", body=body)
                assert status == 400, pattern
            status, _ = await send(
                gateway, "POST", "/", host="tricky.example", body=b"digits 123 and cafe"
            )
    assert status == 200
    assert [r[3] for r in upstream.requests] == [b"digits 123 and cafe"]


async def test_tls_passes_through_by_sni_and_a_connection_naming_another_host_is_closed(
    tmp_path: Path,
) -> None:
    """stripe's HTTPS port: a TCP proxy chosen by SNI. The client's TLS reaches the
    destination untouched (the Envoy holds no key); a ClientHello naming anything else
    matches no filter chain and is closed."""
    pki = make_pki(tmp_path, server_name="api.stripe.com")
    client_tls = ssl.create_default_context(cafile=str(pki.ca_file))
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    async with serving_upstream(pki) as upstream:
        with envoy_in_front_of(plan_of(example_policy(), "stripe"), upstream, tmp_path) as envoy:
            url = f"https://127.0.0.1:{envoy.listener_port('https_443')}/v1/charges"
            timeout = aiohttp.ClientTimeout(total=15)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(
                    url, ssl=client_tls, server_hostname="api.stripe.com",
                    headers={"Host": "api.stripe.com"},
                ) as reply:
                    assert reply.status == 200
                # Not verifying the certificate: only the Envoy can stop this one.
                with pytest.raises(aiohttp.ClientError):
                    async with session.get(
                        url, ssl=unverified, server_hostname="evil.example",
                        headers={"Host": "evil.example"},
                    ):
                        pass
            refused = envoy.admin_get("/stats?filter=no_filter_chain_match")
    assert "no_filter_chain_match: 1" in refused
    assert upstream.server_names == ["api.stripe.com"]  # evil.example never got through
    assert [r[:3] for r in upstream.requests] == [("GET", "/v1/charges", "api.stripe.com")]


def _direct_response_config(lua: str) -> dict[str, object]:
    """A listener answering 200 itself, behind the DLP filter: no upstream needed."""
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "probe",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                    "filter_chains": [{"filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": HCM,
                            "stat_prefix": "probe",
                            "route_config": {"name": "probe", "virtual_hosts": [{
                                "name": "any", "domains": ["*"],
                                "routes": [{"match": {"prefix": "/"},
                                            "direct_response": {"status": 200}}],
                            }]},
                            "http_filters": [
                                {"name": "dlp", "typed_config": {
                                    "@type": LUA, "default_source_code": {"inline_string": lua}}},
                                {"name": "envoy.filters.http.router",
                                 "typed_config": {"@type": ROUTER}},
                            ],
                        },
                    }]}],
                }
            ]
        },
    }


async def test_the_dlp_script_acts_only_on_its_destinations_names(tmp_path: Path) -> None:
    """A gateway is shared: the script must leave other destinations' traffic alone, cover
    every name under a wildcard but not the bare domain (as Istio), and ignore case, a port
    and a trailing dot in the Host header."""
    lua = lua_source(destination="d", hosts=("*.example.com", "exact.test"), patterns=("X",))
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml_text(_direct_response_config(lua)))
    cases = {
        "a.example.com": 400,
        "deep.a.EXAMPLE.com:8080": 400,
        "exact.test.": 400,
        "example.com": 200,
        "other.test": 200,
        "notexample.com": 200,
    }
    with running_envoy(config, tmp_path) as envoy:
        gateway = Gateway(f"http://127.0.0.1:{envoy.listener_port('probe')}", Upstream())
        statuses = {
            host: (await send(gateway, "POST", "/", host=host, body=b"..X..."))[0]
            for host in cases
        }
    assert statuses == cases
