"""Certificates: verified by real TLS handshakes against the CA, not by string checks
(RELIABILITY 17), and written safely (atomic, private keys 0600)."""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from webhook.certs.cabundle import ca_bundle_patch
from webhook.certs.files import CertificateFiles, write_atomically
from webhook.certs.pki import (
    build_ca,
    build_serving_certificate,
    certificate_info,
    service_dns_names,
    split_pem_chain,
)
from webhook.cli.main import main

NOW = datetime.now(UTC)
SERVICE, NAMESPACE = "egressguard", "egressguard-system"


def serving_pair(tmp_path: Path, **kwargs: object) -> tuple[bytes, Path, Path]:
    ca = build_ca(now=NOW)
    serving = build_serving_certificate(ca, service=SERVICE, namespace=NAMESPACE, now=NOW,
                                        **kwargs)  # type: ignore[arg-type]
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(serving.cert_pem)
    key.write_bytes(serving.key_pem)
    return ca.cert_pem, cert, key


async def handshake(cert: Path, key: Path, ca_pem: bytes, hostname: str) -> dict[str, object]:
    """Serves ``cert`` on 127.0.0.1 and connects to it as ``hostname``, verifying with the CA."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port = listener.sockets[0].getsockname()[1]
    client = ssl.create_default_context(cadata=ca_pem.decode())
    try:
        async with asyncio.timeout(5):
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client,
                                                      server_hostname=hostname)
            peer: dict[str, object] = writer.get_extra_info("peercert")
            writer.close()
            return peer
    finally:
        listener.close()
        await listener.wait_closed()


@pytest.mark.parametrize("hostname", service_dns_names(SERVICE, NAMESPACE))
async def test_the_serving_certificate_verifies_as_every_service_name(
    tmp_path: Path, hostname: str
) -> None:
    ca_pem, cert, key = serving_pair(tmp_path)
    peer = await handshake(cert, key, ca_pem, hostname)
    assert peer["subject"]


async def test_extra_ips_and_names_verify_too(tmp_path: Path) -> None:
    ca_pem, cert, key = serving_pair(tmp_path, ips=["127.0.0.1"], dns_names=["localhost"])
    await handshake(cert, key, ca_pem, "localhost")
    await handshake(cert, key, ca_pem, "127.0.0.1")


async def test_another_name_is_refused(tmp_path: Path) -> None:
    ca_pem, cert, key = serving_pair(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        await handshake(cert, key, ca_pem, "egressguard.other-namespace.svc")


async def test_another_ca_is_refused(tmp_path: Path) -> None:
    _, cert, key = serving_pair(tmp_path)
    stranger = build_ca(now=NOW)
    with pytest.raises(ssl.SSLCertVerificationError, match="verify failed"):
        await handshake(cert, key, stranger.cert_pem, "egressguard.egressguard-system.svc")


def test_the_ca_may_only_sign_and_the_leaf_may_only_serve() -> None:
    ca = build_ca(now=NOW)
    leaf = build_serving_certificate(ca, service=SERVICE, namespace=NAMESPACE, now=NOW)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    leaf_cert = x509.load_pem_x509_certificate(leaf.cert_pem)
    constraints = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert ca_cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert not leaf_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = leaf_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    assert list(leaf_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    info = certificate_info(leaf.cert_pem)
    assert info.not_before <= NOW < info.not_after <= NOW + timedelta(days=366)


def test_key_files_are_private_and_writes_leave_no_temporary(tmp_path: Path) -> None:
    files = CertificateFiles(tmp_path / "out")
    ca = build_ca(now=NOW)
    serving = build_serving_certificate(ca, service=SERVICE, namespace=NAMESPACE, now=NOW)
    old_umask = os.umask(0)
    try:
        files.write(ca_bundle=ca.cert_pem, ca_key=ca.key_pem, serving=serving)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.cert.stat().st_mode) == 0o644
    assert sorted(p.name for p in files.directory.iterdir()) == [
        "ca.crt", "ca.key", "tls.crt", "tls.key"
    ]


def test_an_atomic_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    before = target.stat().st_ino
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new" and target.stat().st_ino != before


def test_the_certs_command_writes_reuses_and_rotates_the_ca(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "certs"
    argv = ["certs", "--service", SERVICE, "--namespace", NAMESPACE, "--out", str(out),
            "--ip", "127.0.0.1", "--dns", "localhost"]
    assert main(argv) == 0
    first_ca = (out / "ca.crt").read_bytes()
    first_leaf = certificate_info((out / "tls.crt").read_bytes())
    assert "127.0.0.1" in first_leaf.ip_addresses and "localhost" in first_leaf.dns_names
    assert main(argv) == 0  # a new leaf from the same CA: caBundle unchanged
    assert (out / "ca.crt").read_bytes() == first_ca
    assert certificate_info((out / "tls.crt").read_bytes()).serial != first_leaf.serial
    assert main([*argv, "--new-ca"]) == 0  # the new CA first, the old one still trusted
    bundle = split_pem_chain((out / "ca.crt").read_bytes())
    assert len(bundle) == 2 and bundle[1] == first_ca
    assert "wrote" in capsys.readouterr().out


async def test_a_bundle_of_old_and_new_ca_verifies_both_leaves(tmp_path: Path) -> None:
    old, new = build_ca(now=NOW), build_ca(now=NOW)
    bundle = new.cert_pem + old.cert_pem
    for ca in (old, new):
        leaf = build_serving_certificate(ca, service=SERVICE, namespace=NAMESPACE, now=NOW)
        cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
        cert.write_bytes(leaf.cert_pem)
        key.write_bytes(leaf.key_pem)
        await handshake(cert, key, bundle, "egressguard.egressguard-system.svc")


def test_the_ca_bundle_patch_tests_each_webhook_name_before_setting_it() -> None:
    configuration = {"webhooks": [{"name": "pods.egressguard.io", "clientConfig": {}},
                                  {"name": "infra.egressguard.io", "clientConfig": {}}]}
    ops = ca_bundle_patch(configuration, b"PEM")
    assert ops == [
        {"op": "test", "path": "/webhooks/0/name", "value": "pods.egressguard.io"},
        {"op": "add", "path": "/webhooks/0/clientConfig/caBundle",
         "value": base64.b64encode(b"PEM").decode()},
        {"op": "test", "path": "/webhooks/1/name", "value": "infra.egressguard.io"},
        {"op": "add", "path": "/webhooks/1/clientConfig/caBundle",
         "value": base64.b64encode(b"PEM").decode()},
    ]


def test_a_secret_certificate_is_renewed_when_due_or_for_other_names() -> None:
    from webhook.certs.secret import still_good

    ca = build_ca(now=NOW)
    leaf = build_serving_certificate(ca, service=SERVICE, namespace=NAMESPACE, now=NOW,
                                     valid_for=timedelta(days=90))
    data = {"tls.crt": leaf.cert_pem, "tls.key": leaf.key_pem, "ca.crt": ca.cert_pem}
    names = service_dns_names(SERVICE, NAMESPACE)
    month = timedelta(days=30)
    assert still_good(data, now=NOW, renew_before=month, names=names, ips=[])
    assert not still_good(data, now=NOW + timedelta(days=61), renew_before=month, names=names,
                          ips=[])
    assert not still_good(data, now=NOW, renew_before=month, names=[*names, "other"], ips=[])
    assert not still_good(data, now=NOW, renew_before=month, names=names, ips=["10.0.0.1"])
    assert not still_good({**data, "ca.crt": b""}, now=NOW, renew_before=month, names=names,
                          ips=[])
    assert not still_good(None, now=NOW, renew_before=month, names=names, ips=[])
