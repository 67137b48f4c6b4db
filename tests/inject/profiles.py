"""Install profiles: the injector and mesh config of each, rendered from Istio's own chart.

``helm template`` renders ``manifests/charts/istio-control/istio-discovery`` from the
``istio.io/istio`` module cache with a profile's values; the ConfigMaps a real install
writes (``istio-sidecar-injector``: ``config`` and ``values``; ``istio``: ``mesh``) are
what ``istioctl kube-inject --injectConfigFile --valuesFile --meshConfigFile`` reads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.inject.tools import istio_source, pinned, run_tool

DISCOVERY_CHART = "manifests/charts/istio-control/istio-discovery"
GATEWAY_CHART = "manifests/charts/gateway"
ISTIO_NAMESPACE = "istio-system"
# A release install names its registry and tag; the development chart in the module
# names a test registry instead. The tag is the 1.31 release the e2e CRDs come from.
IMAGE_TAG = "1.31.1"
RELEASE_VALUES = ("global.hub=docker.io/istio", f"global.tag={IMAGE_TAG}")


@dataclass(frozen=True)
class Profile:
    """One way Istio is installed, as the values of its chart and istioctl's environment."""

    name: str
    what: str
    values: tuple[str, ...] = ()
    # Values that are strings to Istio even when they read as booleans (proxyMetadata).
    string_values: tuple[str, ...] = ()
    # ENABLE_NATIVE_SIDECARS: istiod's "auto" asks the cluster's nodes; offline, istioctl
    # injects native sidecars only when it is "true" (pkg/kube/inject/inject.go).
    env: tuple[tuple[str, str], ...] = ()
    tags: frozenset[str] = field(default_factory=frozenset)

    def key(self) -> str:
        text = json.dumps([self.name, self.values, self.string_values, self.env,
                           pinned("ISTIO_VERSION"), pinned("HELM_VERSION"), RELEASE_VALUES])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


PROFILES = (
    Profile("default", "default install: istio-init, classic sidecar"),
    Profile("native", "native sidecars: istio-proxy among initContainers",
            env=(("ENABLE_NATIVE_SIDECARS", "true"),), tags=frozenset({"native"})),
    Profile("cni", "CNI install: istio-validation instead of istio-init",
            values=("pilot.cni.enabled=true",), tags=frozenset({"cni"})),
    Profile("cni-native", "CNI install with native sidecars",
            values=("pilot.cni.enabled=true",), env=(("ENABLE_NATIVE_SIDECARS", "true"),),
            tags=frozenset({"cni", "native"})),
    Profile("tproxy", "TPROXY interception mesh-wide (istio-proxy with NET_ADMIN, UID 0)",
            values=("meshConfig.defaultConfig.interceptionMode=TPROXY",),
            tags=frozenset({"tproxy"})),
    Profile("dns-capture", "DNS capture and auto-allocation in the mesh's proxyMetadata",
            string_values=("meshConfig.defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE=true",
                           "meshConfig.defaultConfig.proxyMetadata.ISTIO_META_DNS_AUTO_ALLOCATE=true")),
    Profile("openshift", "OpenShift platform profile (CNI through multus)",
            values=("global.platform=openshift",), tags=frozenset({"cni"})),
    Profile("ambient", "ambient profile: sidecars beside ztunnel, HBONE in proxyMetadata",
            values=("profile=ambient",)),
)
# Installs whose outputs come from istiod itself (istiod-render), not istioctl.
AMBIENT_OPENSHIFT = Profile("ambient-openshift", "ambient profile on OpenShift",
                            values=("profile=ambient", "global.platform=openshift"))


@dataclass(frozen=True)
class InjectorConfig:
    """The three files of one profile, as ``istioctl kube-inject`` takes them."""

    config: Path
    values: Path
    mesh: Path


def render_chart(chart: str, release: str, namespace: str, values: tuple[str, ...],
                 string_values: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    args = ["template", release, str(istio_source() / chart), "--namespace", namespace]
    for value in values:
        args += ["--set", value]
    for value in string_values:
        args += ["--set-string", value]
    return [doc for doc in yaml.safe_load_all(run_tool("helm", args)) if isinstance(doc, dict)]


def injector_config(profile: Profile, folder: Path) -> InjectorConfig:
    """The profile's injector and mesh config, rendered once into ``folder``."""
    files = InjectorConfig(folder / "inject-config.yaml", folder / "values.json",
                           folder / "mesh.yaml")
    if all(path.is_file() for path in (files.config, files.values, files.mesh)):
        return files
    documents = render_chart(DISCOVERY_CHART, "istiod", ISTIO_NAMESPACE,
                             RELEASE_VALUES + profile.values, profile.string_values)
    maps = {doc["metadata"]["name"]: doc.get("data", {}) for doc in documents
            if doc.get("kind") == "ConfigMap"}
    injector, mesh = maps.get("istio-sidecar-injector"), maps.get("istio")
    if injector is None or mesh is None:
        raise RuntimeError(f"{DISCOVERY_CHART} rendered no injector or mesh ConfigMap")
    folder.mkdir(parents=True, exist_ok=True)
    files.values.write_text(injector["values"])
    files.mesh.write_text(mesh["mesh"])
    files.config.write_text(injector["config"])  # last: its presence marks a complete render
    return files
