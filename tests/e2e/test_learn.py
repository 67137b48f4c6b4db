"""Adoption on a live cluster: a warn-mode run with no grants, ``egressguard learn`` on the
webhook's audit log, and the same workloads admitted in enforce mode with what it proposed.

The run has a control plane of its own: it registers two webhook servers in turn (warn, then
enforce with other rules), which would change what the other end-to-end tests meet.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import expect
from .cluster import EgressguardCluster, running_egressguard, webhook_kubeconfig
from .controlplane import ADMIN, DEVELOPER, ControlPlane
from .kubectl import Kubectl
from .objects import allow_label, deployment, pod
from .processes import wait_until
from .webhook_process import EXAMPLE_RULES, REPO, WebhookServer, egressguard_argv

pytestmark = [pytest.mark.e2e]

# What the teams' workloads reach; the rules they run under have no grant at all.
WORKLOADS: list[dict[str, Any]] = [
    deployment("checkout", "shop", service_account="checkout",
               egress="api.stripe.com:443, api.paypal.com:443"),
    pod("exporter", "data", service_account="exporter",
        egress="bigquery.googleapis.com:443, pastebin.com:443"),
    pod("builder", "ci", service_account="builder", egress="github.com:443,github.com:22"),
    pod("notifier", "shop", service_account="notifier", egress="hooks.slack.com:443"),
    pod("mirror", "shop", egress="pypi.org:443"),  # open: admitted as the rules are
]
# The entitlement labels each workload's pods carry once the proposal is served.
ENTITLED = {
    ("shop", "checkout"): {"stripe", "api-paypal-com"},
    ("data", "exporter"): {"googleapis", "pastebin-com"},
    ("ci", "builder"): {"github"},
    ("shop", "notifier"): {"slack"},
    ("shop", "mirror"): {"pypi"},
}


@pytest.fixture(scope="module")
def controlplane(
    binaries: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    with ControlPlane.started(tmp_path_factory.mktemp("learn-plane"), binaries) as plane:
        yield plane


def _rules_without_grants(target: Path) -> Path:
    """The example rules with no grant, in warn mode: nothing is refused, all is logged."""
    shutil.copytree(EXAMPLE_RULES, target)
    shutil.rmtree(target / "services")
    _set_mode(target, "warn")
    return target


def _set_mode(rules: Path, mode: str) -> None:
    config = rules / "config.yaml"
    text = config.read_text()
    assert "defaultMode: enforce" in text or "defaultMode: warn" in text
    config.write_text(text.replace("defaultMode: enforce", f"defaultMode: {mode}")
                      .replace("defaultMode: warn", f"defaultMode: {mode}"))


@contextlib.contextmanager
def _serving(cluster: EgressguardCluster, workdir: Path, rules: Path) -> Iterator[WebhookServer]:
    """Another ``egressguard serve`` on ``rules``, registered in place of the first."""
    kubeconfig = webhook_kubeconfig(cluster.plane, cluster.manifests,
                                    workdir / "webhook.kubeconfig")
    webhook = WebhookServer(workdir, kubeconfig=kubeconfig, rules=rules)
    webhook.issue_certificates()
    try:
        webhook.start()
        EgressguardCluster(cluster.plane, webhook, cluster.manifests).register_webhook()
        yield webhook
    finally:
        webhook.stop()


def _egressguard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(egressguard_argv(*args), capture_output=True, text=True, timeout=120,
                          check=False, cwd=REPO)


def _wait_for_pod_of(admin: Kubectl, namespace: str, app: str) -> dict[str, Any]:
    """The first pod the checkout Deployment's ReplicaSet created."""
    found: list[dict[str, Any]] = []

    def created() -> bool:
        items = admin.get_json("pods", "-n", namespace, "-l", f"app={app}")["items"]
        found[:] = items
        return bool(items)

    wait_until(created, timeout=60, what=f"a pod of deployment {app}")
    return found[0]


def _delete_workloads(admin: Kubectl) -> None:
    """Every workload gone, the Deployment's ReplicaSet and pods too (by label, without
    waiting for the garbage collector)."""
    for workload in WORKLOADS:
        meta = workload["metadata"]
        admin.run("delete", workload["kind"].lower(), meta["name"], "-n", meta["namespace"],
                  "--wait=true", "--timeout=60s", check=True, timeout=90)
    for kind in ("replicasets", "pods"):
        admin.run("delete", kind, "-n", "shop", "-l", "app=checkout", "--wait=true",
                  "--timeout=60s", check=True, timeout=90)


def test_learn_turns_a_warn_mode_run_into_rules_that_admit_it_in_enforce_mode(
    controlplane: ControlPlane, tmp_path: Path,
) -> None:
    developer, admin = controlplane.kubectl(DEVELOPER), controlplane.kubectl(ADMIN)
    live = _rules_without_grants(tmp_path / "live-rules")
    audit_log = tmp_path / "audit.log"
    with running_egressguard(controlplane, tmp_path / "warn", rules=live) as cluster:
        results = [developer.apply(workload) for workload in WORKLOADS]
        for result in results:
            expect.admitted(result)
        warned = "\n".join(expect.warnings(results[1]))
        assert "grant-missing" in warned and "unknown-destination" in warned, warned
        # The ReplicaSet controller creates the checkout pod: its line is in the log too.
        _wait_for_pod_of(admin, "shop", "checkout")
        wait_until(
            lambda: any(r.get("user", "").endswith(":replicaset-controller")
                        for r in cluster.webhook.audit_records()),
            timeout=30, what="the ReplicaSet's pod in the audit log",
        )
        _delete_workloads(admin)
        shutil.copyfile(cluster.webhook.audit_log, audit_log)

        proposed = tmp_path / "proposed"
        learned = _egressguard("learn", "--rules", str(live), "--audit-log", str(audit_log),
                               "--out", str(proposed))
        assert learned.returncode == 0, learned.stderr
        assert "**Access widens**: 4 identities gain access" in learned.stdout, learned.stdout
        assert "**attacker-controlled-host**: pastebin.com:443" in learned.stdout
        assert "**attacker-controlled-host**: github.com:22,443" in learned.stdout
        assert not (live / "services").exists()  # the live repository was only read
        checked = _egressguard("check", str(proposed))
        assert checked.returncode == 0, checked.stdout + checked.stderr

        enforced = tmp_path / "enforced-rules"
        shutil.copytree(proposed, enforced)
        _set_mode(enforced, "enforce")
        with _serving(cluster, tmp_path / "enforce", enforced):
            refused = developer.apply(pod("stranger", "shop", egress="pastebin.com:443"))
            expect.denied(refused, "grant-missing")  # enforce mode, and only what was seen
            for workload in WORKLOADS:
                result = developer.apply(workload)
                expect.admitted(result)
                assert expect.warnings(result) == [], result
            pods = {("shop", "checkout"): _wait_for_pod_of(admin, "shop", "checkout")}
            for workload in WORKLOADS[1:]:
                meta = workload["metadata"]
                pods[(meta["namespace"], meta["name"])] = expect.stored(
                    admin, "pod", meta["name"], meta["namespace"])
            for key, destinations in ENTITLED.items():
                labels = expect.labels(pods[key])
                assert {k for k in labels if "/allow-" in k} == {
                    allow_label(d) for d in destinations}, (key, labels)
