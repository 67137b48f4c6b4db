"""Small rules repositories written into ``tmp_path``, for the loader and ``check`` tests.

``BASE`` is a valid repository; a test overrides or removes a few files to break it in one
way, so each test reads as the one change it makes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

HEADER = "apiVersion: egressguard.io/v1alpha1\n"

CONFIG = HEADER + textwrap.dedent(
    """\
    kind: Config
    spec:
      gateways:
        - name: egress
          namespace: istio-egress
          selector: {istio: egressgateway}
    """
)

GITHUB = HEADER + textwrap.dedent(
    """\
    kind: Destination
    metadata:
      name: github
    spec:
      hosts: [github.com, api.github.com]
      ports:
        - {number: 443, protocol: HTTPS}
        - {number: 22, protocol: TCP}
    """
)

GOOGLEAPIS = HEADER + textwrap.dedent(
    """\
    kind: Destination
    metadata:
      name: googleapis
    spec:
      hosts: ["*.googleapis.com"]
      ports:
        - {number: 443, protocol: HTTPS}
    """
)

EXCEPTION = HEADER + textwrap.dedent(
    """\
    kind: Exception
    metadata:
      name: legacy-vpn
    spec:
      namespace: legacy
      serviceAccount: vpn-client
      codes: [net-capability]
      reason: The VPN client manages its own tun device (SEC-88).
      expires: 2027-03-31
    """
)

BASE: dict[str, str] = {
    "config.yaml": CONFIG,
    "destinations/github.yaml": GITHUB,
    "destinations/googleapis.yaml": GOOGLEAPIS,
    "exceptions/legacy-vpn.yaml": EXCEPTION,
    "services/ci/builder/github.com:443.rule": "reason: CI clones repositories.\n",
    "services/data/exporter/bigquery.googleapis.com:443.rule": "",
}


def write_repo(
    root: Path,
    files: Mapping[str, str | bytes] | None = None,
    *,
    base: Mapping[str, str] = BASE,
    drop: Iterable[str] = (),
) -> Path:
    """Writes ``base`` with ``files`` over it (minus ``drop``) under ``root``; returns root."""
    merged: dict[str, str | bytes] = {**base, **(files or {})}
    for name in drop:
        merged.pop(name)
    for name, content in merged.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    root.mkdir(parents=True, exist_ok=True)
    return root


def replace_line(text: str, old: str, new: str) -> str:
    """``text`` with the one line containing ``old`` changed: keeps the other lines' numbers."""
    assert text.count(old) == 1, f"{old!r} is not in the text exactly once"
    return text.replace(old, new)
