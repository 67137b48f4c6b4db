"""egressguard scaled to zero, with its configurations registered as an operator installs
them (the kustomize step deploy/webhooks, one platform namespace added to
namespaces.yaml): the cluster keeps working where it must, and fails closed where it
matters.

- pods in the namespaces left out (the platform namespace the operator trusts, and
  kube-system) are created, even on the host network as a node agent needs;
- the control plane keeps Endpoints and EndpointSlices current (matchConditions leave
  its writers out before the call);
- pods and workloads in judged namespaces are refused, and so are pods in the mesh root
  namespace, which no configuration leaves out, a hand-written Endpoints object, and a
  new namespace.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl, Result
from .objects import deployment, namespace, pod, unique
from .stopped import endpoints_follow_the_pod, service_with_a_pod, webhook_stopped
from .webhook_process import DEPLOY_DIR, register

pytestmark = [pytest.mark.e2e]

PLATFORM = "monitoring"


def refused_unanswered(result: Result) -> None:
    """Refused because egressguard did not answer (failurePolicy Fail)."""
    assert not result.ok, f"expected the write to fail closed:\n{result}"
    assert "failed calling webhook" in result.stderr, result


@pytest.fixture(scope="module")
def operators_configurations(
    egressguard: EgressguardCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[dict[str, Any]]]:
    """deploy/webhooks with the platform namespace added to namespaces.yaml, registered
    in place of the default; the default again afterwards."""
    step = tmp_path_factory.mktemp("webhooks-step") / "webhooks"
    shutil.copytree(DEPLOY_DIR / "webhooks", step)
    config = yaml.safe_load((step / "namespaces.yaml").read_text())
    config["namespaces"].append(PLATFORM)
    (step / "namespaces.yaml").write_text(yaml.safe_dump(config))
    rendered = egressguard.admin.run("kustomize", str(step), check=True).stdout
    manifests = [d for d in yaml.safe_load_all(rendered) if d]
    register(egressguard.admin, manifests, base_url=egressguard.webhook.base_url,
             ca_bundle=egressguard.webhook.ca_pem)
    try:
        yield manifests
    finally:
        egressguard.register_webhook()


@pytest.fixture(scope="module")
def scaled_to_zero(
    egressguard: EgressguardCluster, operators_configurations: list[dict[str, Any]]
) -> Iterator[dict[str, str]]:
    """Prepared while egressguard runs: the platform namespace and the mesh root (creating
    a namespace is judged too), a Service with its pod in a judged namespace (its
    Endpoints are the controllers' to write). Then stopped."""
    admin = egressguard.admin
    for name in (PLATFORM, "istio-system"):
        if admin.get_json("namespace", name) is None:
            expect.admitted(egressguard.security.create(namespace(name)))
    for name in (PLATFORM, "kube-system"):
        expect.admitted(admin.run("wait", "--for=create", "serviceaccount/default", "-n",
                                  name, "--timeout=30s", timeout=40))
    web = unique("zero-web")
    service_with_a_pod(egressguard.security, web)
    with webhook_stopped(egressguard):
        yield {"web": web}


def test_the_configurations_leave_out_the_operators_platform_namespace(
    operators_configurations: list[dict[str, Any]], admin: Kubectl
) -> None:
    for shipped in operators_configurations:
        if shipped["kind"].endswith("WebhookConfiguration"):
            stored = expect.stored(admin, shipped["kind"].lower(), "egressguard")
            for hook in stored["webhooks"]:
                (expression,) = hook["namespaceSelector"]["matchExpressions"]
                assert PLATFORM in expression["values"], hook["name"]
                assert "istio-system" not in expression["values"], hook["name"]


@pytest.mark.parametrize("where", [PLATFORM, "kube-system"])
def test_pods_in_the_namespaces_left_out_are_created(
    scaled_to_zero: dict[str, str], admin: Kubectl, where: str
) -> None:
    name = unique("node-agent")
    expect.admitted(admin.apply(pod(name, where, hostNetwork=True)))
    expect.admitted(admin.run("delete", "pod", name, "-n", where, "--wait=false"))


def test_the_control_plane_keeps_endpoints_current(
    scaled_to_zero: dict[str, str], admin: Kubectl
) -> None:
    endpoints_follow_the_pod(admin, scaled_to_zero["web"], "10.244.2.9")


@pytest.mark.parametrize("where", ["shop", "sandbox", "istio-system"],
                         ids=["enforce", "warn-mode", "mesh-root"])
def test_pods_in_judged_namespaces_are_refused(
    scaled_to_zero: dict[str, str], admin: Kubectl, where: str
) -> None:
    name = unique("judged")
    refused_unanswered(admin.apply(pod(name, where)))
    expect.absent(admin, "pod", name, where)


def test_workloads_namespaces_and_hand_written_endpoints_are_refused(
    scaled_to_zero: dict[str, str], developer: Kubectl, admin: Kubectl
) -> None:
    refused_unanswered(admin.create(namespace(unique("new-team"))))
    refused_unanswered(developer.apply(deployment(unique("judged"), "shop")))
    refused_unanswered(developer.apply({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": unique("by-hand"), "namespace": "shop"},
        "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}]}))

