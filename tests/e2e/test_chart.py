"""The Helm chart installed with `helm install` (and upgraded with `helm upgrade`) into a
control plane of its own, and working: its webhook configurations are registered only
once every replica is ready (a failed install registers none), they admit a granted pod
with its labels, refuse an ungranted one, leave out the namespaces given in its values,
and `helm uninstall` takes them away first.

No kubelet runs here, so the chart's pods and Jobs never run by themselves: a stand-in
(kubelet_stand_in.py) reports the Deployment's pods ready and runs each Job's command
here, as the Job's own service account, recording its outcome as the Job controller
would. egressguard runs beside the control plane as the chart's own service account (with
the chart's RBAC), and the chart's webhook configurations are pointed at it. Everything
else (rules, selectors, operations, hooks, their order) is the chart's, as installed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.tools import CHART, documents, helm, helm_binary, helm_env

from . import expect
from .cluster import EgressguardCluster, running_egressguard
from .controlplane import ADMIN, ControlPlane
from .kubectl import Kubectl
from .kubelet_stand_in import finish_job, report_pods_ready, run_job
from .objects import allow_label, namespace, pod, unique
from .processes import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.tools]

RELEASE_NAMESPACE = "guard"  # not deploy/'s egressguard-system: the chart follows the release
LEFT_OUT = "legacy"
CONFIGURATIONS = ("mutatingwebhookconfiguration", "validatingwebhookconfiguration")
INSTALL_SETS = ("--set", f"webhooks.excludedNamespaces={{{LEFT_OUT}}}", "--timeout", "4m")


class Helm:
    def __init__(self, plane: ControlPlane) -> None:
        self.kubeconfig = str(plane.kubeconfig(ADMIN))

    def __call__(self, *args: str) -> str:
        result = helm(*args, "--kubeconfig", self.kubeconfig)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def start(self, *args: str) -> subprocess.Popen[str]:
        """helm in the background, while the test plays the kubelet for its hooks."""
        return subprocess.Popen(
            [helm_binary(), *args, "--kubeconfig", self.kubeconfig],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**helm_env(), "PATH": "/usr/bin:/bin"})


@dataclass
class Run:
    """What was seen while helm ran its hooks."""

    returncode: int = -1
    output: str = ""
    registered_while_waiting: list[str] = field(default_factory=list)
    wait: str = ""
    jobs: list[str] = field(default_factory=list)


def registered(admin: Kubectl) -> list[str]:
    return [kind for kind in CONFIGURATIONS if admin.get_json(kind, "egressguard") is not None]


def job(admin: Kubectl, name: str) -> dict[str, Any]:
    """The Job once helm has created it (not one a previous release left finished)."""
    found: list[dict[str, Any]] = []

    def created() -> bool:
        stored = admin.get_json("job", name, "-n", RELEASE_NAMESPACE)
        found[:] = [stored]
        return stored is not None and not (stored.get("status") or {}).get("conditions")

    wait_until(created, timeout=120, what=f"Job {name}")
    return found[0]


def play_kubelet(plane: ControlPlane, process: subprocess.Popen[str], workdir: Path, *,
                 ready: bool) -> Run:
    """Plays the kubelet for `helm install`: the certificate Job, then the wait-ready
    hook (after reporting the replicas ready, or not), then the caBundle hook."""
    admin = plane.kubectl(ADMIN)
    run = Run()
    certs = job(admin, "egressguard-certs-1")
    result = run_job(plane, admin, certs, workdir)
    assert result.ok, result
    finish_job(admin, certs, succeeded=True)
    run.jobs.append(certs["metadata"]["name"])
    wait = job(admin, "egressguard-wait-ready")
    run.registered_while_waiting = registered(admin)
    if ready:
        wait_until(lambda: report_pods_ready(admin, RELEASE_NAMESPACE,
                                             "app.kubernetes.io/name=egressguard") == 3,
                   timeout=60, what="the replicas")
    result = run_job(plane, admin, wait, workdir, replace={"--timeout=4m": "--timeout=20s"})
    run.wait = result.stdout + result.stderr
    finish_job(admin, wait, succeeded=result.ok)
    run.jobs.append(wait["metadata"]["name"])
    if result.ok:
        cabundle = job(admin, "egressguard-cabundle")
        result = run_job(plane, admin, cabundle, workdir)
        assert result.ok, result
        finish_job(admin, cabundle, succeeded=True)
        run.jobs.append(cabundle["metadata"]["name"])
    run.output, _ = process.communicate(timeout=120)
    run.returncode = process.returncode
    return run


def uninstall(plane: ControlPlane, helm_: Helm, workdir: Path) -> str:
    """`helm uninstall`, running its pre-delete hook as the kubelet would."""
    process = helm_.start("uninstall", "egressguard", "--namespace", RELEASE_NAMESPACE,
                          "--timeout", "2m")
    admin = plane.kubectl(ADMIN)
    unregister = job(admin, "egressguard-unregister")
    result = run_job(plane, admin, unregister, workdir)
    finish_job(admin, unregister, succeeded=result.ok)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    return result.stdout


@dataclass
class ChartPlane:
    plane: ControlPlane
    helm: Helm
    failed: Run
    installed: Run
    workdir: Path


@pytest.fixture(scope="module")
def chart_plane(
    binaries: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChartPlane]:
    workdir = tmp_path_factory.mktemp("chart-jobs")
    with ControlPlane.started(tmp_path_factory.mktemp("chart-plane"), binaries) as plane:
        run = Helm(plane)
        # An install whose replicas never become ready, uninstalled again.
        failed = play_kubelet(plane, run.start(
            "install", "egressguard", str(CHART), "--namespace", RELEASE_NAMESPACE,
            "--create-namespace", *INSTALL_SETS), workdir, ready=False)
        failed.registered_while_waiting += registered(plane.kubectl(ADMIN))  # and after
        uninstall(plane, run, workdir)
        installed = play_kubelet(plane, run.start(
            "install", "egressguard", str(CHART), "--namespace", RELEASE_NAMESPACE,
            "--create-namespace", *INSTALL_SETS), workdir, ready=True)
        assert installed.returncode == 0, installed.output
        # An upgrade that changes the pods: the certificate Job's pod template cannot
        # change, so each revision runs its own.
        run("upgrade", "egressguard", str(CHART), "--namespace", RELEASE_NAMESPACE,
            "--reuse-values", "--set", "replicas=2", "--set", "resources.limits.memory=512Mi")
        yield ChartPlane(plane, run, failed, installed, workdir)


def test_a_failed_install_registers_no_webhook(chart_plane: ChartPlane) -> None:
    failed = chart_plane.failed
    assert failed.returncode != 0, failed.output
    assert "egressguard-wait-ready" in failed.output, failed.output
    assert "timed out waiting for the condition" in failed.wait, failed.wait
    assert failed.registered_while_waiting == []


def test_the_webhooks_are_registered_only_after_the_rollout(chart_plane: ChartPlane) -> None:
    installed = chart_plane.installed
    assert installed.registered_while_waiting == []
    assert 'deployment "egressguard" successfully rolled out' in installed.wait
    assert installed.jobs == ["egressguard-certs-1", "egressguard-wait-ready",
                              "egressguard-cabundle"]


def test_the_cabundle_hook_set_the_secrets_ca(chart_plane: ChartPlane) -> None:
    admin = chart_plane.plane.kubectl(ADMIN)
    secret = expect.stored(admin, "secret", "egressguard-tls", RELEASE_NAMESPACE)
    for kind in CONFIGURATIONS:
        for hook in expect.stored(admin, kind, "egressguard")["webhooks"]:
            assert hook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"], hook["name"]


@pytest.fixture(scope="module")
def installed(chart_plane: ChartPlane) -> list[dict[str, Any]]:
    return documents(chart_plane.helm("get", "manifest", "egressguard",
                                      "--namespace", RELEASE_NAMESPACE))


@pytest.fixture(scope="module")
def chart_cluster(
    chart_plane: ChartPlane, installed: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[EgressguardCluster]:
    with running_egressguard(chart_plane.plane, tmp_path_factory.mktemp("chart-egressguard"),
                             manifests=installed) as cluster:
        cluster.admin.create(namespace(LEFT_OUT), check=True)
        yield cluster


def test_the_release_holds_the_chart_objects(
    chart_plane: ChartPlane, installed: list[dict[str, Any]]
) -> None:
    plane, run = chart_plane.plane, chart_plane.helm
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


def test_a_rollback_to_the_first_revision_registers_them_again_once_ready(
    chart_plane: ChartPlane, chart_cluster: EgressguardCluster
) -> None:
    """In the first revision the configurations were hooks, so rolling back to it deletes
    them; its hooks run again after the rollback: wait for the rollout, register, set
    caBundle."""
    plane, workdir = chart_plane.plane, chart_plane.workdir
    admin = plane.kubectl(ADMIN)
    process = chart_plane.helm.start("rollback", "egressguard", "1", "--namespace",
                                     RELEASE_NAMESPACE, "--timeout", "3m")
    wait = job(admin, "egressguard-wait-ready")
    assert registered(admin) == []
    wait_until(lambda: report_pods_ready(admin, RELEASE_NAMESPACE,
                                         "app.kubernetes.io/name=egressguard") >= 3,
               timeout=60, what="the rolled-back replicas")
    result = run_job(plane, admin, wait, workdir, replace={"--timeout=4m": "--timeout=60s"})
    assert result.ok, result
    finish_job(admin, wait, succeeded=True)
    cabundle = job(admin, "egressguard-cabundle")
    result = run_job(plane, admin, cabundle, workdir)
    assert result.ok, result
    finish_job(admin, cabundle, succeeded=True)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    secret = expect.stored(admin, "secret", "egressguard-tls", RELEASE_NAMESPACE)
    for kind in CONFIGURATIONS:
        for hook in expect.stored(admin, kind, "egressguard")["webhooks"]:
            assert hook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"], hook["name"]


def test_helm_uninstall_removes_the_webhooks_first(
    chart_plane: ChartPlane, chart_cluster: EgressguardCluster
) -> None:
    """Runs last: afterwards nothing in this control plane is judged."""
    deleted = uninstall(chart_plane.plane, chart_plane.helm, chart_plane.workdir)
    assert "mutatingwebhookconfiguration.admissionregistration.k8s.io \"egressguard\" deleted" \
        in deleted, deleted
    admin = chart_plane.plane.kubectl(ADMIN)
    expect.absent(admin, "validatingwebhookconfiguration", "egressguard")
    expect.absent(admin, "mutatingwebhookconfiguration", "egressguard")
    expect.admitted(admin.apply(pod(unique("chart-after"), "shop", hostNetwork=True)))
