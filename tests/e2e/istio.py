"""Istio's CustomResourceDefinitions, from the published ``istio.io/api`` Go module.

``go mod download`` fetches the module through the Go module proxy (checked against
sum.golang.org); the CRD file is copied into the binaries' cache so later runs need
no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .controlplane import ADMIN, ControlPlane

ISTIO_API_VERSION = "v1.31.1"
CRD_PATH_IN_MODULE = "kubernetes/customresourcedefinitions.gen.yaml"
# The kinds egressguard judges; all of the file is installed.
JUDGED_CRDS = (
    "serviceentries.networking.istio.io",
    "envoyfilters.networking.istio.io",
    "sidecars.networking.istio.io",
    "workloadentries.networking.istio.io",
    "gateways.networking.istio.io",
)


def cache_dir() -> Path:
    return Path(os.environ.get("EGRESSGUARD_CACHE", Path.home() / ".cache" / "egressguard"))


def istio_crds_file(*, version: str = ISTIO_API_VERSION) -> Path:
    """The CRD file of ``istio.io/api@version``, downloaded once and cached."""
    cached = cache_dir() / f"istio-api-{version}" / "customresourcedefinitions.gen.yaml"
    if cached.is_file():
        return cached
    if shutil.which("go") is None:
        raise RuntimeError("Go is required to download the Istio CRDs (istio.io/api module)")
    cached.parent.mkdir(parents=True, exist_ok=True)
    # Run outside any Go module, so only the module cache is involved.
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"istio.io/api@{version}"],
        capture_output=True, text=True, timeout=300, check=False, cwd=cached.parent,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"go mod download istio.io/api@{version} failed:\n{proc.stderr}")
    module_dir = Path(json.loads(proc.stdout)["Dir"])
    source = module_dir / CRD_PATH_IN_MODULE
    if not source.is_file():
        raise RuntimeError(f"istio.io/api@{version} has no {CRD_PATH_IN_MODULE}")
    tmp = cached.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(cached)
    return cached


def install_istio_crds(plane: ControlPlane, *, timeout: int = 60) -> None:
    """Apply the CRDs (server-side: they are too large for the last-applied annotation)
    and wait until they are served."""
    kubectl = plane.kubectl(ADMIN)
    kubectl.run(
        "apply", "--server-side", "--force-conflicts", "-f", str(istio_crds_file()),
        check=True, timeout=120,
    )
    kubectl.run(
        "wait", "--for=condition=Established", f"--timeout={timeout}s",
        *(f"crd/{name}" for name in JUDGED_CRDS),
        check=True, timeout=timeout + 10,
    )
