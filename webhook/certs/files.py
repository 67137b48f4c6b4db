"""Writing certificates to disk: atomic renames, private keys readable by the owner only.

A server watching the folder must never see half a file, so each file is written to a
temporary name in the same folder, flushed, and renamed over the old one. The serving
key and certificate are separate files; the server tolerates the moment where one is new
and the other old (it keeps serving the old pair until both match).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from webhook.certs.pki import KeyPair

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
TLS_CERT = "tls.crt"
TLS_KEY = "tls.key"
PUBLIC_MODE = 0o644
PRIVATE_MODE = 0o600


def write_atomically(path: Path, data: bytes, *, mode: int = PUBLIC_MODE) -> None:
    """Replaces ``path`` with ``data`` in one rename; the file is created with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)  # os.open's mode is filtered by the umask
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """Where the files of one certificate folder live."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / CA_CERT

    @property
    def ca_key(self) -> Path:
        return self.directory / CA_KEY

    @property
    def cert(self) -> Path:
        return self.directory / TLS_CERT

    @property
    def key(self) -> Path:
        return self.directory / TLS_KEY

    def read_ca(self) -> KeyPair | None:
        """The CA kept in this folder, or None when there is none to reuse."""
        if not (self.ca_cert.is_file() and self.ca_key.is_file()):
            return None
        return KeyPair(self.ca_cert.read_bytes(), self.ca_key.read_bytes())

    def write(self, *, ca_bundle: bytes, ca_key: bytes | None, serving: KeyPair) -> None:
        """Writes the CA bundle first and the serving key before its certificate.

        The CA goes first so that whoever reads ``ca.crt`` to patch ``caBundle`` already
        trusts the new serving certificate when it appears.
        """
        write_atomically(self.ca_cert, ca_bundle)
        if ca_key is not None:
            write_atomically(self.ca_key, ca_key, mode=PRIVATE_MODE)
        write_atomically(self.key, serving.key_pem, mode=PRIVATE_MODE)
        write_atomically(self.cert, serving.cert_pem)
