"""What `egressguard render` writes is accepted by a real kube-apiserver with the Istio and
Gateway API CRDs installed, admitted by egressguard from the security team, and refused
where it touches the gateways when a developer applies it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import expect
from .cluster import DEVELOPER_ROLE, EgressguardCluster
from .controlplane import DEVELOPER
from .webhook_process import EXAMPLE_RULES, REPO

pytestmark = [pytest.mark.e2e]

MODES = ("istio-sidecar", "istio-ambient", "envoy-per-destination")
GATEWAY_NAMESPACES = ("istio-egress", "payments-egress")
# The clock the example rules are rendered at (as the golden files are).
NOW = "2026-06-01T12:00:00Z"


@pytest.fixture(scope="module")
def gateway_namespaces(egressguard: EgressguardCluster) -> tuple[str, ...]:
    """The example rules' gateway namespaces, where the developer may try to write."""
    for name in GATEWAY_NAMESPACES:
        if egressguard.admin.run("get", "namespace", name).ok:
            continue
        egressguard.admin.run("create", "namespace", name, check=True)
        egressguard.admin.run(
            "create", "rolebinding", "developer", f"--clusterrole={DEVELOPER_ROLE}",
            f"--user={DEVELOPER.user}", "-n", name, check=True,
        )
    return GATEWAY_NAMESPACES


def render(mode: str, out: Path, *extra: str) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "webhook", "render", "--rules", str(EXAMPLE_RULES),
         "--mode", mode, "--now", NOW, "--out", str(out), *extra],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert any(out.glob("*.yaml")), f"render wrote nothing to {out}"
    return out


def documents(folder: Path) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(folder.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict)
    ]


@pytest.mark.parametrize("mode", MODES)
def test_everything_rendered_is_admitted_for_the_security_team(
    mode: str, egressguard: EgressguardCluster, gateway_namespaces: tuple[str, ...],
    tmp_path: Path,
) -> None:
    out = render(mode, tmp_path / mode)
    result = egressguard.security.run(
        "apply", "--dry-run=server", "--validate=strict", "-f", str(out), timeout=120,
    )
    expect.admitted(result)
    assert expect.warnings(result) == [], result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_rendered_gateway_policies_are_refused_for_a_developer(
    mode: str, egressguard: EgressguardCluster, gateway_namespaces: tuple[str, ...],
    tmp_path: Path,
) -> None:
    out = render(mode, tmp_path / mode)
    touching = [
        doc for doc in documents(out)
        if (doc["kind"] == "NetworkPolicy"
            and doc["metadata"].get("namespace") in gateway_namespaces)
        or doc["kind"] == "EnvoyFilter"
    ]
    assert any(doc["kind"] == "NetworkPolicy" for doc in touching), "no gateway policy rendered"
    for doc in touching:
        code = "netpol-open-egress" if doc["kind"] == "NetworkPolicy" else "envoyfilter-gateway"
        result = egressguard.developer.run("apply", "--dry-run=server", "-f", "-", stdin=doc)
        expect.denied(result, code)


@pytest.mark.parametrize(
    "fence",
    ["cluster-network-policy", "calico", "cilium"],
)
def test_each_cluster_wide_fence_is_valid_for_its_cni_and_admitted_for_the_security_team(
    fence: str, egressguard: EgressguardCluster, tmp_path: Path
) -> None:
    """The CRDs of the CNI kinds are installed from their published modules: the API
    server checks the fence against their schemas."""
    out = render("istio-sidecar", tmp_path / fence, "--fence", fence)
    result = egressguard.security.run(
        "apply", "--dry-run=server", "--validate=strict", "-f", str(out / "fence.yaml"),
        timeout=120,
    )
    expect.admitted(result)
    assert expect.warnings(result) == [], result.stderr
