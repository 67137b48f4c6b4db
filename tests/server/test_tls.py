"""The listener speaks TLS 1.2 and 1.3 only (RELIABILITY 19), as the Service's DNS name."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from webhook.certs.pki import KeyPair, build_ca

from .conftest import SHARED, Pki, Server, StartServer, server_shared_by_module
from .wire import HOST, SERVICE_HOSTNAME, client_context, exchange, request_bytes

server = server_shared_by_module()


def legacy_client(ca_pem: bytes, version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that really offers an old version (Python deprecates even asking)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = client_context(ca_pem, maximum=version)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


@SHARED
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
async def test_clients_below_tls_1_2_are_refused(server: Server, version: ssl.TLSVersion) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        async with asyncio.timeout(5):
            _, writer = await asyncio.open_connection(
                HOST, server.port, ssl=legacy_client(server.pki.ca_pem, version),
                server_hostname=SERVICE_HOSTNAME,
            )
            writer.close()


@SHARED
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_tls_1_2_and_1_3_clients_are_served(server: Server, version: ssl.TLSVersion) -> None:
    context = client_context(server.pki.ca_pem, maximum=version)
    context.minimum_version = version
    reply = await exchange(server.port, request_bytes("GET", "/healthz"),
                           ca_pem=server.pki.ca_pem, context=context)
    assert reply.status == 200


@SHARED
async def test_a_client_that_trusts_another_ca_refuses_the_server(server: Server) -> None:
    from datetime import UTC, datetime

    from webhook.certs.pki import build_ca

    stranger = build_ca(now=datetime.now(UTC), common_name="someone else")
    with pytest.raises(ssl.SSLCertVerificationError):
        await exchange(server.port, request_bytes("GET", "/healthz"), ca_pem=stranger.cert_pem)


@SHARED
@pytest.mark.parametrize("suites", ["ECDHE+AES+SHA1:ECDHE+AES+SHA256:ECDHE+AES+SHA384",
                                    "AESGCM+kRSA:AES+kRSA", "DHE+AESGCM"])
async def test_tls_1_2_without_forward_secrecy_or_aead_is_refused(
    server: Server, suites: str
) -> None:
    """RELIABILITY 19: CBC suites and RSA key exchange are not offered (nor DHE)."""
    context = client_context(server.pki.ca_pem, maximum=ssl.TLSVersion.TLSv1_2)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(suites + ":@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await exchange(server.port, request_bytes("GET", "/healthz"),
                       ca_pem=server.pki.ca_pem, context=context)


@SHARED
async def test_tls_1_2_with_ecdhe_and_aead_is_served(server: Server) -> None:
    context = client_context(server.pki.ca_pem, maximum=ssl.TLSVersion.TLSv1_2)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM")
    reply = await exchange(server.port, request_bytes("GET", "/healthz"),
                           ca_pem=server.pki.ca_pem, context=context)
    assert reply.status == 200


def client_certificate(ca: KeyPair, name: str, now: datetime) -> KeyPair:
    """A client-authentication certificate, as the API server's kubeconfig would hold."""
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
    )


# In TLS 1.3 the client finishes its handshake before the server checks its certificate:
# the refusal arrives as an alert, or as a connection closed without a reply.
REFUSED = (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)


async def test_with_a_client_ca_only_clients_it_issued_are_served(
    start_server: StartServer, pki: Pki, tmp_path: Path
) -> None:
    """RELIABILITY 34: the API server presents a client certificate (its
    AdmissionConfiguration kubeConfigFile); anyone else in the cluster is refused."""
    now = datetime.now(UTC)
    api_server_ca = build_ca(now=now, common_name="api server clients")
    client = client_certificate(api_server_ca, "kube-apiserver", now)
    (tmp_path / "client-ca.crt").write_bytes(api_server_ca.cert_pem)
    (tmp_path / "client.crt").write_bytes(client.cert_pem)
    (tmp_path / "client.key").write_bytes(client.key_pem)
    server = await start_server(client_ca=tmp_path / "client-ca.crt")
    anonymous = client_context(pki.ca_pem)
    with pytest.raises(REFUSED):
        await exchange(server.port, request_bytes("GET", "/healthz"), ca_pem=pki.ca_pem,
                       context=anonymous)
    stranger_ca = build_ca(now=now, common_name="someone else")
    stranger = client_certificate(stranger_ca, "kube-apiserver", now)
    (tmp_path / "stranger.crt").write_bytes(stranger.cert_pem)
    (tmp_path / "stranger.key").write_bytes(stranger.key_pem)
    impostor = client_context(pki.ca_pem)
    impostor.load_cert_chain(tmp_path / "stranger.crt", tmp_path / "stranger.key")
    with pytest.raises(REFUSED):
        await exchange(server.port, request_bytes("GET", "/healthz"), ca_pem=pki.ca_pem,
                       context=impostor)
    api_server = client_context(pki.ca_pem)
    api_server.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    reply = await exchange(server.port, request_bytes("GET", "/healthz"), ca_pem=pki.ca_pem,
                           context=api_server)
    assert reply.status == 200
