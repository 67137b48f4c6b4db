"""The Helm chart installed with `helm install` (and upgraded with `helm upgrade`) into a
control plane of its own, and working: the webhook configurations it registered admit a
granted pod with its labels, refuse an ungranted one, leave out the namespaces given in
its values, and `helm uninstall` takes them away again.

No kubelet runs here, so the chart's Deployment never starts a pod: egressguard runs
beside the control plane as the chart's own service account (with the chart's RBAC), and
the chart's webhook configurations are pointed at it, as the certificate Job would set
caBundle. Everything else (rules, selectors, operations) is the chart's, as installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.tools import CHART, documents, helm

from . import expect
from .cluster import EgressguardCluster, running_egressguard
from .controlplane import ADMIN, ControlPlane
from .kubectl import Kubectl
from .objects import allow_label, namespace, pod, unique

pytestmark = [pytest.mark.e2e, pytest.mark.tools]

RELEASE_NAMESPACE = "guard"  # not deploy/'s egressguard-system: the chart follows the release
LEFT_OUT = "legacy"


class Helm:
    def __init__(self, plane: ControlPlane) -> None:
        self.kubeconfig = str(plane.kubeconfig(ADMIN))

    def __call__(self, *args: str) -> str:
        result = helm(*args, "--kubeconfig", self.kubeconfig)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def chart_plane(
    binaries: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ControlPlane, Helm]]:
    with ControlPlane.started(tmp_path_factory.mktemp("chart-plane"), binaries) as plane:
        run = Helm(plane)
        run("install", "egressguard", str(CHART), "--namespace", RELEASE_NAMESPACE,
            "--create-namespace", "--set", f"webhooks.excludedNamespaces={{{LEFT_OUT}}}")
        # An upgrade that changes the pods: the certificate Job's pod template cannot
        # change, so each revision runs its own Job.
        run("upgrade", "egressguard", str(CHART), "--namespace", RELEASE_NAMESPACE,
            "--reuse-values", "--set", "replicas=2", "--set", "resources.limits.memory=512Mi")
        yield plane, run


@pytest.fixture(scope="module")
def installed(chart_plane: tuple[ControlPlane, Helm]) -> list[dict[str, Any]]:
    _, run = chart_plane
    return documents(run("get", "manifest", "egressguard", "--namespace", RELEASE_NAMESPACE))


@pytest.fixture(scope="module")
def chart_cluster(
    chart_plane: tuple[ControlPlane, Helm], installed: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[EgressguardCluster]:
    plane, _ = chart_plane
    with running_egressguard(plane, tmp_path_factory.mktemp("chart-egressguard"),
                             manifests=installed) as cluster:
        cluster.admin.create(namespace(LEFT_OUT), check=True)
        yield cluster


def test_the_release_holds_the_chart_objects(
    chart_plane: tuple[ControlPlane, Helm], installed: list[dict[str, Any]]
) -> None:
    plane, run = chart_plane
    admin = plane.kubectl(ADMIN)
    assert "STATUS: deployed" in run("status", "egressguard", "--namespace", RELEASE_NAMESPACE)
    deployment = expect.stored(admin, "deployment", "egressguard", RELEASE_NAMESPACE)
    assert deployment["spec"]["replicas"] == 2  # the upgrade's value
    assert "REVISION: 2" in run("status", "egressguard", "--namespace", RELEASE_NAMESPACE)
    expect.stored(admin, "job", "egressguard-certs-2", RELEASE_NAMESPACE)
    expect.absent(admin, "job", "egressguard-certs-1", RELEASE_NAMESPACE)
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        stored = expect.stored(admin, kind, "egressguard")
        assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        for hook in stored["webhooks"]:
            (expression,) = hook["namespaceSelector"]["matchExpressions"]
            assert set(expression["values"]) == {
                "kube-system", "kube-public", "kube-node-lease", RELEASE_NAMESPACE, LEFT_OUT}
    assert {d["kind"] for d in installed} >= {
        "Deployment", "Service", "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration", "ClusterRole", "Job", "CronJob"}


def test_a_granted_pod_is_admitted_with_its_labels(chart_cluster: EgressguardCluster) -> None:
    developer: Kubectl = chart_cluster.developer
    name = unique("chart-granted")
    expect.admitted(developer.apply(
        pod(name, "shop", service_account="checkout", egress="api.stripe.com:443")))
    labels = expect.labels(expect.stored(developer, "pod", name, "shop"))
    assert labels[allow_label("stripe")] == "true"


def test_an_ungranted_pod_is_refused_naming_the_rules_file(
    chart_cluster: EgressguardCluster,
) -> None:
    name = unique("chart-ungranted")
    result = chart_cluster.developer.apply(
        pod(name, "shop", service_account="notifier", egress="api.stripe.com:443"))
    expect.denied(result, "grant-missing", "services/shop/notifier/api.stripe.com:443.rule")
    expect.absent(chart_cluster.admin, "pod", name, "shop")


def test_host_network_is_refused_except_in_the_namespaces_left_out(
    chart_cluster: EgressguardCluster,
) -> None:
    admin = chart_cluster.admin
    expect.denied(admin.apply(pod(unique("chart-host"), "shop", hostNetwork=True)),
                  "host-network")
    expect.admitted(admin.apply(pod(unique("chart-host"), LEFT_OUT, hostNetwork=True)))


def test_helm_uninstall_removes_the_webhooks(
    chart_plane: tuple[ControlPlane, Helm], chart_cluster: EgressguardCluster
) -> None:
    """Runs last: afterwards nothing in this control plane is judged."""
    plane, run = chart_plane
    run("uninstall", "egressguard", "--namespace", RELEASE_NAMESPACE)
    admin = plane.kubectl(ADMIN)
    expect.absent(admin, "validatingwebhookconfiguration", "egressguard")
    expect.absent(admin, "mutatingwebhookconfiguration", "egressguard")
    expect.admitted(admin.apply(pod(unique("chart-after"), "shop", hostNetwork=True)))
