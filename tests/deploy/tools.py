"""The tools deploy/ and the workflows are checked with: helm and actionlint (built pinned
from their Go modules, cached in ~/.cache/egressguard) and kubectl (from the control
plane's cache, or PATH)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
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


MESHTOOLS_SCRIPT = REPO / "tests" / "inject" / "build-meshtools.sh"
ACTIONLINT_SCRIPT = REPO / "tests" / "packaging" / "build-actionlint.sh"
# Generous: a first build of istioctl and helm on two cores takes several minutes.
BUILD_TIMEOUT_SECONDS = 60 * 60


def _built(script: Path) -> Path:
    """Runs a pinned tool build (instant once cached); its last stdout line is a path.
    Progress goes to this process's stderr as it happens."""
    stderr = sys.stderr.fileno() if _has_fileno(sys.stderr) else None
    proc = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, stderr=stderr,
                          text=True, timeout=BUILD_TIMEOUT_SECONDS, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{script.name} failed with exit code {proc.returncode}")
    return Path(lines[-1])


def _has_fileno(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return True


@functools.cache
def helm_binary() -> str:
    """helm v4.3.2, built from helm.sh/helm/v4 by tests/inject/build-meshtools.sh."""
    return str(_built(MESHTOOLS_SCRIPT) / "helm")


@functools.cache
def actionlint_binary() -> str:
    """actionlint, built pinned from its Go module by build-actionlint.sh."""
    return str(_built(ACTIONLINT_SCRIPT))


def build_tools() -> None:
    """Both tools, before the tests that need them start (outside any test's timeout)."""
    helm_binary()
    actionlint_binary()


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
    return run([helm_binary(), *args], env=helm_env())


def helm_env() -> dict[str, str]:
    """helm's environment: its caches, configuration and HOME (where the Kubernetes client
    keeps its discovery cache) in a clean folder, never the working directory."""
    home = helm_home()
    return {"HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"), "HOME": str(home)}


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
