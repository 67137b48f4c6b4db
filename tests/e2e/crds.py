"""The CustomResourceDefinitions of every kind egressguard judges, from the published Go
modules that ship them, so that each kind goes through the real API server and kubectl.

- Istio: ``istio.io/api`` (its generated CRD file, every kind);
- Gateway API: ``sigs.k8s.io/gateway-api``, the standard channel, and the experimental
  channel for TLSRoute, TCPRoute and UDPRoute (which also serves their ``v1alpha2``,
  the version most manifests still use);
- AdminNetworkPolicy and BaselineAdminNetworkPolicy: ``sigs.k8s.io/network-policy-api``
  v0.1.7, the experimental channel (``networks``, ``nodes``, ``domainNames`` peers; v0.3.0
  replaced both kinds); ClusterNetworkPolicy: v0.3.0;
- Cilium: ``github.com/cilium/cilium`` (``pkg/k8s/apis/cilium.io/client/crds/v2``);
- Calico: ``github.com/projectcalico/calico`` (``libcalico-go/config/crd``, the
  ``crd.projectcalico.org`` kinds). Calico's tags are not Go semantic versions, so the
  module proxy serves it only as a pseudo-version: the newest served one is pinned.

And the policy reports ``audit`` writes: ``wgpolicyk8s.io`` PolicyReport and
ClusterPolicyReport from ``github.com/kyverno/kyverno`` (``config/crds/policyreport``), the
CRDs Kyverno itself installs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .controlplane import ADMIN, ControlPlane
from .gomodules import module_file

ISTIO_API_VERSION = "v1.31.1"
GATEWAY_API_VERSION = "v1.6.0"
CALICO_VERSION = "v1.11.0-cni-plugin.0.20250813170300-a0db560f0520"
CILIUM_VERSION = "v1.20.2"
KYVERNO_VERSION = "v1.19.1"


@dataclass(frozen=True)
class CrdFile:
    module: str
    version: str
    path: str
    # The CRDs of the file egressguard judges (all of the file is installed).
    judged: tuple[str, ...]

    def fetch(self) -> str:
        return str(module_file(self.module, self.version, self.path))


def _gateway_api(channel: str, plural: str) -> CrdFile:
    name = f"{plural}.gateway.networking.k8s.io"
    return CrdFile(
        "sigs.k8s.io/gateway-api", GATEWAY_API_VERSION,
        f"config/crd/{channel}/gateway.networking.k8s.io_{plural}.yaml",
        (name,) if plural != "gatewayclasses" else (),
    )


def _policy_api(version: str, path: str, plural: str) -> CrdFile:
    return CrdFile(
        "sigs.k8s.io/network-policy-api", version,
        f"{path}/policy.networking.k8s.io_{plural}.yaml",
        (f"{plural}.policy.networking.k8s.io",),
    )


def _cilium(plural: str) -> CrdFile:
    return CrdFile(
        "github.com/cilium/cilium", CILIUM_VERSION,
        f"pkg/k8s/apis/cilium.io/client/crds/v2/{plural}.yaml", (f"{plural}.cilium.io",),
    )


def _calico(plural: str) -> CrdFile:
    return CrdFile(
        "github.com/projectcalico/calico", CALICO_VERSION,
        f"libcalico-go/config/crd/crd.projectcalico.org_{plural}.yaml",
        (f"{plural}.crd.projectcalico.org",),
    )


CRD_FILES: tuple[CrdFile, ...] = (
    CrdFile(
        "istio.io/api", ISTIO_API_VERSION, "kubernetes/customresourcedefinitions.gen.yaml",
        tuple(
            f"{plural}.{group}"
            for group, plurals in (
                ("networking.istio.io", (
                    "serviceentries", "envoyfilters", "sidecars", "workloadentries",
                    "gateways", "virtualservices", "destinationrules", "proxyconfigs",
                )),
                ("security.istio.io", ("authorizationpolicies", "requestauthentications")),
                ("extensions.istio.io", ("wasmplugins", "trafficextensions")),
            )
            for plural in plurals
        ),
    ),
    _gateway_api("standard", "gatewayclasses"),
    _gateway_api("standard", "gateways"),
    _gateway_api("standard", "httproutes"),
    _gateway_api("standard", "grpcroutes"),
    _gateway_api("standard", "listenersets"),
    _gateway_api("experimental", "tlsroutes"),
    _gateway_api("experimental", "tcproutes"),
    _gateway_api("experimental", "udproutes"),
    _policy_api("v0.1.7", "config/crd/experimental", "adminnetworkpolicies"),
    _policy_api("v0.1.7", "config/crd/experimental", "baselineadminnetworkpolicies"),
    _policy_api("v0.3.0", "config/crd/standard", "clusternetworkpolicies"),
    _cilium("ciliumnetworkpolicies"),
    _cilium("ciliumclusterwidenetworkpolicies"),
    _cilium("ciliumenvoyconfigs"),
    _cilium("ciliumclusterwideenvoyconfigs"),
    _cilium("ciliumlocalredirectpolicies"),
    _calico("networkpolicies"),
    _calico("globalnetworkpolicies"),
    _calico("networksets"),
    _calico("globalnetworksets"),
)
REPORT_CRD_FILES: tuple[CrdFile, ...] = tuple(
    CrdFile("github.com/kyverno/kyverno", KYVERNO_VERSION,
            f"config/crds/policyreport/wgpolicyk8s.io_{plural}.yaml",
            (f"{plural}.wgpolicyk8s.io",))
    for plural in ("policyreports", "clusterpolicyreports")
)
JUDGED_CRDS: tuple[str, ...] = tuple(name for f in CRD_FILES for name in f.judged)


def crd_files(files: Sequence[CrdFile] = CRD_FILES) -> list[str]:
    """The local paths of the CRD files (downloaded once, then cached)."""
    return [f.fetch() for f in files]


def install_crds(plane: ControlPlane, *, timeout: int = 90,
                 files: Sequence[CrdFile] = CRD_FILES) -> None:
    """Apply the CRDs (server-side: some are too large for the last-applied annotation)
    and wait until the judged ones are served."""
    kubectl = plane.kubectl(ADMIN)
    paths = crd_files(files)
    kubectl.run(
        "apply", "--server-side", "--force-conflicts",
        *(arg for path in paths for arg in ("-f", path)),
        check=True, timeout=180,
    )
    kubectl.run(
        "wait", "--for=condition=Established", f"--timeout={timeout}s",
        *(f"crd/{name}" for f in files for name in f.judged),
        check=True, timeout=timeout + 10,
    )
