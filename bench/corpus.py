"""Synthetic rules repositories of growing size, written as a real repository on disk.

Every size holds the same *benchmarked identities* (:data:`FIXED_GRANTS`) over the same
first ten destinations, so the work of one decision is identical at every size and only
the size of the indexes changes. The rest is filler: service accounts in team namespaces
with ten grants each, spread over all destinations.

Writing 100,000 grant files takes a minute, so repositories are cached outside git
(``~/.cache/egressguard/bench``, or ``$EGRESSGUARD_CACHE/bench``), keyed by a hash of this
generator's parameters: a change here writes them anew.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.reviews import pod_review as _pod_review

GENERATOR_VERSION = "2"
# (grants, destinations): the sizes `python -m bench` measures.
SIZES: tuple[tuple[int, int], ...] = (
    (10, 10),
    (1_000, 100),
    (10_000, 1_000),
    (100_000, 10_000),
)
SMALLEST, LARGEST = SIZES[0], SIZES[-1]

CONFIG = """\
apiVersion: egressguard.io/v1alpha1
kind: Config
spec:
  exemptNamespaces: [kube-system, kube-public, kube-node-lease, egressguard-system]
  gateways:
    - name: istio-egressgateway
      namespace: istio-egress
      selector: {istio: egressgateway}
  trustedPrincipals:
    groups: ["egressguard:security"]
"""

DESTINATION = """\
apiVersion: egressguard.io/v1alpha1
kind: Destination
metadata:
  name: {name}
spec:
  hosts: [{hosts}]
  ports:
{ports}  access: {access}
"""


@dataclass(frozen=True, slots=True)
class FixedGrant:
    namespace: str
    service_account: str
    host: str
    expires: str = ""


# The identities the review corpus uses; present, unchanged, in every repository size.
FIXED_GRANTS: tuple[FixedGrant, ...] = (
    FixedGrant("shop", "checkout", "dest-0.example.com"),
    FixedGrant("shop", "checkout", "dest-1.example.com"),
    FixedGrant("shop", "checkout", "dest-2.example.com"),
    FixedGrant("shop", "cart", "dest-1.example.com"),
    FixedGrant("shop", "cart", "api.dest-3.example.com"),
    FixedGrant("data", "etl", "dest-4.example.com"),
    FixedGrant("data", "etl", "dest-8.example.com"),
    FixedGrant("data", "report", "dest-5.example.com", expires="2020-01-31"),
)
OPEN_DESTINATION = 7  # dest-7: access open, any pod that asks gets it
WILDCARD_ONLY = 3  # dest-3: only *.dest-3.example.com
TWO_PORTS = 8  # dest-8: ports 443 and 8443


def destination_text(index: int) -> str:
    name = f"dest-{index}"
    if index == WILDCARD_ONLY:
        hosts = f'"*.{name}.example.com"'
    else:
        hosts = f'"{name}.example.com", "*.{name}.example.com"'
    ports = "    - {number: 443, protocol: HTTPS}\n"
    if index == TWO_PORTS:
        ports += "    - {number: 8443, protocol: TLS}\n"
    access = "open" if index == OPEN_DESTINATION else "restricted"
    return DESTINATION.format(name=name, hosts=hosts, ports=ports, access=access)


def write_rules(root: Path, *, grants: int, destinations: int) -> Path:
    """A rules repo with ``grants`` grant files over ``destinations`` destinations."""
    if destinations < 10 or grants < len(FIXED_GRANTS):
        raise ValueError("a benchmark repository has at least 10 destinations and 8 grants")
    if root.exists():
        shutil.rmtree(root)
    (root / "destinations").mkdir(parents=True)
    (root / "config.yaml").write_text(CONFIG)
    for index in range(destinations):
        (root / "destinations" / f"dest-{index}.yaml").write_text(destination_text(index))
    for grant in FIXED_GRANTS:
        folder = root / "services" / grant.namespace / grant.service_account
        folder.mkdir(parents=True, exist_ok=True)
        body = "reason: benchmarked identity\n"
        if grant.expires:
            body += f"expires: {grant.expires}\n"
        (folder / f"{grant.host}:443.rule").write_text(body)
    per_identity = 10
    folder = root
    for index in range(grants - len(FIXED_GRANTS)):
        identity, slot = divmod(index, per_identity)
        if slot == 0:
            folder = root / "services" / f"team-{identity // 100}" / f"sa-{identity % 100}"
            folder.mkdir(parents=True, exist_ok=True)
        # Ten consecutive destinations per identity, identities strided over all of them.
        target = (identity * 7919 + slot) % destinations
        host = f"dest-{target}.example.com"
        if target == WILDCARD_ONLY:
            host = f"api.{host}"  # covered by its wildcard only
        path = folder / f"{host}:443.rule"
        if index % 10 == 0:
            path.write_text(f"reason: ticket SEC-{index}\n")
        else:
            path.touch()
    return root


def cache_root() -> Path:
    base = os.environ.get("EGRESSGUARD_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "egressguard"
    return root / "bench"


def repository(grants: int, destinations: int, *, cache: Path | None = None) -> Path:
    """The cached repository of this size, written first if missing or stale."""
    key = hashlib.sha256(
        f"{GENERATOR_VERSION}|{CONFIG}|{FIXED_GRANTS}|{destination_text(0)}".encode()
    ).hexdigest()[:12]
    root = (cache or cache_root()) / f"rules-{grants}-{destinations}-{key}"
    done = root.with_name(root.name + ".complete")
    if not done.exists():
        staging = root.with_name(root.name + ".partial")
        write_rules(staging, grants=grants, destinations=destinations)
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
        done.touch()
    return root


def pod_review(
    *, requests: str = "dest-0.example.com:443, dest-1.example.com:443"
) -> dict[str, Any]:
    """A controller-created pod of ``shop/checkout`` asking for ``requests``."""
    return _pod_review(requests=requests)
