"""OPA for the side-by-side runs: the pinned binary, built once, and its data document.

The binary is built from ``github.com/open-policy-agent/opa`` through the Go module proxy
at a pinned version, into ``~/.cache/egressguard/opa-<version>/opa`` (``$EGRESSGUARD_CACHE``
overrides the folder), outside git. The data document is made from the loaded
:class:`~webhook.model.rules.Policy`, the very value egressguard serves, so both servers
judge with the same destinations and grants.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.corpus import cache_root
from webhook.model.hosts import is_wildcard, normalize_host
from webhook.model.rules import Policy

OPA_MODULE = "github.com/open-policy-agent/opa"
OPA_VERSION = "v1.22.2"
POLICY_DIR = Path(__file__).parent / "opa"
QUERY_PATH = "/v0/data/egressguard/review"


def opa_binary(version: str = OPA_VERSION) -> Path:
    return cache_root().parent / f"opa-{version}" / "opa"


def ensure_opa(version: str = OPA_VERSION, *, log: Any = print) -> Path:
    """The OPA binary, built with ``go install`` the first time (a few minutes)."""
    binary = opa_binary(version)
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("building OPA needs Go (https://go.dev/dl/); none found on PATH")
    binary.parent.mkdir(parents=True, exist_ok=True)
    log(f"building OPA {version} from {OPA_MODULE} (once; a few minutes) into {binary.parent}")
    env = {**os.environ, "GOBIN": str(binary.parent), "GOFLAGS": "-trimpath",
           "CGO_ENABLED": "0"}
    started = time.monotonic()
    # -x prints each build step; we show a counter of packages built instead of the flood.
    with subprocess.Popen(
        [go, "install", "-ldflags=-s -w", "-v", f"{OPA_MODULE}@{version}"],
        env=env, cwd=binary.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        built = 0
        tail: list[str] = []
        for line in process.stdout:
            tail = [*tail[-20:], line.rstrip()]
            if line.startswith("go: downloading"):
                continue
            built += 1
            if built % 25 == 0:
                sys.stderr.write(f"\r  OPA: {built} packages built, "
                                 f"{time.monotonic() - started:.0f} s")
                sys.stderr.flush()
        code = process.wait()
    sys.stderr.write("\n")
    if code != 0 or not binary.is_file():
        raise RuntimeError("building OPA failed:\n" + "\n".join(tail))
    log(f"built OPA {version} in {time.monotonic() - started:.0f} s")
    return binary


def policy_data(policy: Policy) -> dict[str, Any]:
    """The data document bench/opa/policy.rego reads: destinations, a host index, grants."""
    config = policy.config
    exact: dict[str, str] = {}
    wildcards: dict[str, str] = {}
    destinations: dict[str, Any] = {}
    for name, destination in policy.destinations.items():
        destinations[name] = {
            "access": destination.access.value,
            "ports": sorted({port.number for port in destination.ports}),
        }
        for pattern in destination.hosts:
            host = normalize_host(pattern)
            if host == "*":
                raise ValueError("the benchmark's Rego policy has no catch-all destination")
            if is_wildcard(host):
                wildcards[host[2:]] = name
            else:
                exact[host] = name
    grants: dict[str, dict[str, list[dict[str, str]]]] = {}
    for grant in policy.grants:
        entry = {"destination": grant.destination}
        if grant.expires is not None:
            entry["expires"] = grant.expires.isoformat()
        grants.setdefault(grant.namespace, {}).setdefault(grant.service_account, []).append(entry)
    return {
        "config": {
            "entitlement_prefix": config.entitlement_prefix,
            "request_annotation": config.request_annotation,
            "exempt_namespaces": {namespace: True for namespace in config.exempt_namespaces},
        },
        "destinations": destinations,
        "hosts": {"exact": exact, "wildcards": wildcards},
        "grants": grants,
    }


def write_bundle(policy: Policy, folder: Path) -> Path:
    """A folder OPA serves: the policy from bench/opa/ and data.json for these rules."""
    folder.mkdir(parents=True, exist_ok=True)
    for rego in POLICY_DIR.glob("*.rego"):
        shutil.copyfile(rego, folder / rego.name)
    (folder / "data.json").write_bytes(orjson.dumps(policy_data(policy)))
    return folder
