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
GATEWAY_API_VERSION = "v1.4.0"
GATEWAY_API_CRDS = (
    "gateway.networking.k8s.io_gatewayclasses.yaml",
    "gateway.networking.k8s.io_gateways.yaml",
)
CRD_PATH_IN_MODULE = "kubernetes/customresourcedefinitions.gen.yaml"
# The kinds egressguard judges; all of the file is installed.
JUDGED_CRDS = (
    "serviceentries.networking.istio.io",
    "envoyfilters.networking.istio.io",
    "sidecars.networking.istio.io",
    "workloadentries.networking.istio.io",
    "gateways.networking.istio.io",
    "gateways.gateway.networking.k8s.io",
)


def cache_dir() -> Path:
    return Path(os.environ.get("EGRESSGUARD_CACHE", Path.home() / ".cache" / "egressguard"))


def module_file(module: str, version: str, path_in_module: str) -> Path:
    """One file of a published Go module, downloaded once and cached."""
    name = module.replace("/", "_")
    cached = cache_dir() / f"{name}-{version}" / Path(path_in_module).name
    if cached.is_file():
        return cached
    if shutil.which("go") is None:
        raise RuntimeError(f"Go is required to download {module} (a Go module)")
    cached.parent.mkdir(parents=True, exist_ok=True)
    # Run outside any Go module, so only the module cache is involved.
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True, text=True, timeout=300, check=False, cwd=cached.parent,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"go mod download {module}@{version} failed:\n{proc.stderr}")
    source = Path(json.loads(proc.stdout)["Dir"]) / path_in_module
    if not source.is_file():
        raise RuntimeError(f"{module}@{version} has no {path_in_module}")
    tmp = cached.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(cached)
    return cached


def istio_crds_file(*, version: str = ISTIO_API_VERSION) -> Path:
    """The CRD file of ``istio.io/api@version``."""
    return module_file("istio.io/api", version, CRD_PATH_IN_MODULE)


def gateway_api_crd_files(*, version: str = GATEWAY_API_VERSION) -> list[Path]:
    """The Gateway API CRDs an ambient waypoint needs (``sigs.k8s.io/gateway-api``)."""
    return [
        module_file("sigs.k8s.io/gateway-api", version, f"config/crd/standard/{name}")
        for name in GATEWAY_API_CRDS
    ]


def install_istio_crds(plane: ControlPlane, *, timeout: int = 60) -> None:
    """Apply the CRDs (server-side: they are too large for the last-applied annotation)
    and wait until they are served."""
    kubectl = plane.kubectl(ADMIN)
    for crds in (istio_crds_file(), *gateway_api_crd_files()):
        kubectl.run(
            "apply", "--server-side", "--force-conflicts", "-f", str(crds),
            check=True, timeout=120,
        )
    kubectl.run(
        "wait", "--for=condition=Established", f"--timeout={timeout}s",
        *(f"crd/{name}" for name in JUDGED_CRDS),
        check=True, timeout=timeout + 10,
    )
