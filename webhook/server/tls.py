"""Serving TLS, and swapping the certificate without dropping a connection.

The listening socket keeps one :class:`ssl.SSLContext` for its whole life; its
``sni_callback`` (which OpenSSL calls on every handshake, with or without SNI) hands each
new connection the context loaded last. A new certificate is loaded into a *fresh*
context, and only a context that loaded completely (certificate and key that match) is
swapped in, with one reference assignment. Connections already open keep the context they
started with, so in-flight requests are never cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from webhook.certs.pki import CertificateInfo, certificate_info
from webhook.server.metrics import Metrics
from webhook.server.watching import changes, roots_of

log = logging.getLogger("egressguard.tls")
RETRY_AFTER_WATCH_FAILURE = 5.0


# TLS 1.2 suites: forward secret (ECDHE) and authenticated encryption (AES-GCM, ChaCha20)
# only, as the API server's Go client offers first; no CBC, no RSA key exchange. TLS 1.3
# suites are all AEAD and are not configurable here.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A TLS 1.2+ server context; raises ``OSError``/``ssl.SSLError`` on bad files.

    With ``client_ca``, every client must present a certificate that CA issued: the API
    server does, when its AdmissionConfiguration gives it one for this webhook.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    context.set_alpn_protocols(["http/1.1"])  # the API server would otherwise try HTTP/2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass(frozen=True, slots=True)
class LoadedCertificate:
    context: ssl.SSLContext
    info: CertificateInfo
    fingerprint: str


class CertificateStore:
    """The serving certificate: what new connections get, and what ``/readyz`` checks."""

    def __init__(self, cert: Path, key: Path, metrics: Metrics,
                 client_ca: Path | None = None) -> None:
        self.cert = cert
        self.key = key
        self.client_ca = client_ca
        self._metrics = metrics
        self.current: LoadedCertificate | None = None
        self._listening: ssl.SSLContext | None = None

    def _load(self) -> LoadedCertificate:
        cert_bytes = self.cert.read_bytes()
        context = server_context(self.cert, self.key, self.client_ca)
        client_ca = self.client_ca.read_bytes() if self.client_ca is not None else b""
        return LoadedCertificate(
            context=context,
            info=certificate_info(cert_bytes),
            fingerprint=hashlib.sha256(cert_bytes + self.key.read_bytes() + client_ca).hexdigest(),
        )

    def reload(self) -> bool:
        """Loads the files again; True when a new certificate now serves new connections."""
        try:
            loaded = self._load()
        except (OSError, ValueError, ssl.SSLError) as error:
            # Also the moment between writing a new key and its certificate: keep serving
            # the old pair; the second write triggers another reload.
            self._metrics.reload_errors.labels(what="certificate").inc()
            log.error("certificate %s / key %s do not load (%s); keeping the previous one",
                      self.cert, self.key, error)
            return False
        if self.current is not None and loaded.fingerprint == self.current.fingerprint:
            return False
        self.current = loaded  # the swap: one reference assignment
        self._metrics.certificate_expiry.set(loaded.info.not_after.timestamp())
        log.info("serving certificate serial %x, valid until %s, for %s",
                 loaded.info.serial, loaded.info.not_after.isoformat(),
                 ", ".join((*loaded.info.dns_names, *loaded.info.ip_addresses)))
        return True

    def listening_context(self) -> ssl.SSLContext:
        """The context for the listening socket; it delegates each handshake to the current."""
        if self._listening is None:
            if self.current is None and not self.reload():
                raise RuntimeError(f"no certificate loaded from {self.cert} and {self.key}")
            assert self.current is not None
            listening = server_context(self.cert, self.key, self.client_ca)
            listening.sni_callback = self._select
            self._listening = listening
        return self._listening

    def _select(self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
                listening: ssl.SSLContext) -> None:
        current = self.current
        if current is not None:
            connection.context = current.context
        return None

    def _files(self) -> tuple[Path, ...]:
        return (self.cert, self.key) if self.client_ca is None else (
            self.cert, self.key, self.client_ca)

    async def watch(self, *, debounce_ms: int, stop: asyncio.Event) -> None:
        """Reloads after every debounced batch of changes to the files, until ``stop``."""
        while not stop.is_set():
            try:
                async for _ in changes(
                    lambda: roots_of(self._files()), debounce_ms=debounce_ms, stop=stop
                ):
                    self.reload()
            except Exception:
                log.exception("watching %s failed; retrying", self.cert)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=RETRY_AFTER_WATCH_FAILURE)
