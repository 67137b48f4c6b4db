"""The listener speaks TLS 1.2 and 1.3 only (RELIABILITY 19), as the Service's DNS name."""

from __future__ import annotations

import asyncio
import ssl
import warnings

import pytest

from .conftest import Server
from .wire import HOST, SERVICE_HOSTNAME, client_context, exchange, request_bytes


def legacy_client(ca_pem: bytes, version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that really offers an old version (Python deprecates even asking)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = client_context(ca_pem, maximum=version)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
async def test_clients_below_tls_1_2_are_refused(server: Server, version: ssl.TLSVersion) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        async with asyncio.timeout(5):
            _, writer = await asyncio.open_connection(
                HOST, server.port, ssl=legacy_client(server.pki.ca_pem, version),
                server_hostname=SERVICE_HOSTNAME,
            )
            writer.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_tls_1_2_and_1_3_clients_are_served(server: Server, version: ssl.TLSVersion) -> None:
    context = client_context(server.pki.ca_pem, maximum=version)
    context.minimum_version = version
    reply = await exchange(server.port, request_bytes("GET", "/healthz"),
                           ca_pem=server.pki.ca_pem, context=context)
    assert reply.status == 200


async def test_a_client_that_trusts_another_ca_refuses_the_server(server: Server) -> None:
    from datetime import UTC, datetime

    from webhook.certs.pki import build_ca

    stranger = build_ca(now=datetime.now(UTC), common_name="someone else")
    with pytest.raises(ssl.SSLCertVerificationError):
        await exchange(server.port, request_bytes("GET", "/healthz"), ca_pem=stranger.cert_pem)
