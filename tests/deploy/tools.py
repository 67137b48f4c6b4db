"""The tools deploy/ is checked with: helm (built pinned from its Go module) and kubectl
(from the control plane's cache, or PATH)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "egressguard"
RELEASE = "egressguard"
NAMESPACE = "egressguard-system"


def cache_dir() -> Path:
    return Path(os.environ.get("EGRESSGUARD_CACHE", Path.home() / ".cache" / "egressguard"))


def helm_binary() -> str:
    """helm v4, as the tool build caches it, or $EGRESSGUARD_HELM."""
    explicit = os.environ.get("EGRESSGUARD_HELM")
    if explicit:
        return explicit
    built = sorted(cache_dir().glob("meshtools-*/helm"))
    if built:
        return str(built[-1])
    found = shutil.which("helm")
    if found is None:
        pytest.skip("no helm here (build it: see deploy/README.md)")
    return found


def kubectl_binary() -> str:
    built = sorted(cache_dir().glob("controlplane-*/kubectl"))
    found = str(built[-1]) if built else shutil.which("kubectl")
    if found is None:
        pytest.skip("no kubectl here (bash tests/e2e/build-controlplane.sh builds it)")
    return found


def run(
    argv: Sequence[str], *, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **(env or {})})


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    home = helm_home()
    return run([helm_binary(), *args], env={
        "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    })


@functools.cache
def helm_home() -> Path:
    """A clean home for helm's caches and configuration: no repositories or plugins."""
    return Path(tempfile.mkdtemp(prefix="egressguard-helm-"))


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def helm_template(*values: str, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """``helm template`` of the chart with ``--set`` values; fails the test on an error."""
    sets = [arg for value in values for arg in ("--set", value)]
    result = helm("template", RELEASE, str(CHART), "--namespace", namespace, *sets)
    assert result.returncode == 0, result.stderr
    return documents(result.stdout)


def kustomize(folder: Path = DEPLOY) -> list[dict[str, Any]]:
    result = run([kubectl_binary(), "kustomize", str(folder)])
    assert result.returncode == 0, result.stderr
    return documents(result.stdout)
