"""Istio's own samples, applied by a developer as Istio's documentation applies them, are
admitted, and the pods their Deployments create are admitted too: egressguard's refusals
must not catch what every mesh runs.

The samples are read from the ``istio.io/istio`` Go module (the version istioctl is built
from, tests/inject/build-meshtools.sh), never copied into this repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.inject.tools import ISTIO_MODULE, pinned

from . import expect
from .cluster import EgressguardCluster
from .gomodules import module_file
from .kubectl import Kubectl
from .objects import unique

pytestmark = [pytest.mark.e2e]

SAMPLES = (
    "samples/bookinfo/platform/kube/bookinfo.yaml",
    "samples/bookinfo/networking/bookinfo-gateway.yaml",
    "samples/bookinfo/networking/destination-rule-all.yaml",
    "samples/bookinfo/networking/virtual-service-all-v1.yaml",
    "samples/httpbin/httpbin.yaml",
    "samples/curl/curl.yaml",
    "samples/helloworld/helloworld.yaml",
    # httpbin with an ext-authz server beside it in the pod, reached through a ServiceEntry
    # whose endpoint is the pod's own loopback.
    "samples/extauthz/local-ext-authz.yaml",
)
# The stand-alone ext-authz server runs out of the mesh (sidecar.istio.io/inject: "false"):
# a pod without the sidecar is not captured, which no team decides alone. A cluster that
# runs it adds an Exception for mesh-opt-out, reviewed like any other.
OUT_OF_THE_MESH = "samples/extauthz/ext-authz.yaml"
EGRESSGUARD_WARNING = "egressguard"


def sample(path: str) -> Path:
    return module_file(ISTIO_MODULE, pinned("ISTIO_VERSION"), path)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def team_namespace(egressguard: EgressguardCluster) -> str:
    name = unique("samples")
    egressguard.add_team_namespace(name)
    return name


@pytest.mark.parametrize("path", SAMPLES, ids=[Path(p).stem for p in SAMPLES])
def test_istio_sample_is_admitted_for_a_developer(
    path: str, egressguard: EgressguardCluster, developer: Kubectl, admin: Kubectl
) -> None:
    file = sample(path)
    namespace = team_namespace(egressguard)
    result = developer.run("apply", "-n", namespace, "-f", str(file), timeout=120)
    expect.admitted(result)
    assert not [w for w in expect.warnings(result) if EGRESSGUARD_WARNING in w], result.stderr
    # The ReplicaSet controller creates the pods, judged as they are created.
    for doc in documents(file):
        if doc.get("kind") != "Deployment":
            continue
        name = doc["metadata"]["name"]
        replicas = doc["spec"].get("replicas", 1)
        expect.admitted(admin.run(
            "wait", f"--for=jsonpath={{.status.replicas}}={replicas}", f"deployment/{name}",
            "-n", namespace, "--timeout=60s", timeout=70,
        ))


def test_ext_authz_server_out_of_the_mesh_is_refused_for_a_developer(
    egressguard: EgressguardCluster, developer: Kubectl
) -> None:
    namespace = team_namespace(egressguard)
    result = developer.run("apply", "-n", namespace, "-f", str(sample(OUT_OF_THE_MESH)),
                           timeout=120)
    expect.denied(result, "mesh-opt-out", "sidecar.istio.io/inject")
    expect.absent(developer, "deployment", "ext-authz", namespace)
