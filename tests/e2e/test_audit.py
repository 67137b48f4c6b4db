"""``egressguard audit`` against a real control plane, seeded with no webhook registered.

The cluster (a control plane of its own, so that nothing another test leaves behind is
judged) holds:
- shop (warn mode, fenced): a compliant checkout pod; a checkout pod created before its
  grants (missing labels); a checkout pod labelled for partner-api, whose grant the rules
  no longer hold (a revoked grant: a stale label); a privileged Deployment, whose
  ReplicaSet and pod the controller manager creates;
- billing (enforce, the rules' default): a pod on the node's network, and no fence;
- default and quiet (fenced): nothing wrong; the exempt namespaces are not judged.
The audit must list exactly those, and its reports, applied, must be what is in the cluster.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .cluster import webhook_kubeconfig
from .controlplane import ADMIN, DEVELOPER, ControlPlane, Identity
from .crds import CRD_FILES, REPORT_CRD_FILES, install_crds
from .kubectl import Kubectl
from .processes import Process, free_port, local_env, wait_until
from .webhook_process import (
    DEPLOY_DIR,
    EXAMPLE_RULES,
    REPO,
    deploy_manifests,
    egressguard_argv,
)

pytestmark = pytest.mark.e2e

FENCED = ("default", "shop", "quiet")
PARTNER = "egressguard.io/allow-partner-api"
STRIPE = "egressguard.io/allow-stripe"


def fence(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "egressguard-fence", "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "egressguard"}},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                     "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}}


def pod(namespace: str, name: str, *, account: str = "default",
        labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {"serviceAccountName": account,
                     "containers": [{"name": "app", "image": f"{namespace}/{name}:1"}],
                     **spec}}


def namespace(name: str, mode: str | None = None) -> dict[str, Any]:
    labels = {"egressguard.io/mode": mode} if mode else {}
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels}}


WEB = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"serviceAccountName": "web", "containers": [
                              {"name": "web", "image": "shop/web:1",
                               "securityContext": {"privileged": True}}]}}},
}
SEED: list[dict[str, Any]] = [
    namespace("shop", "warn"), namespace("billing"), namespace("quiet", "enforce"),
    *(fence(name) for name in FENCED),
    *({"apiVersion": "v1", "kind": "ServiceAccount",
       "metadata": {"name": name, "namespace": "shop"}} for name in ("checkout", "web")),
    pod("shop", "checkout-1", account="checkout", labels={STRIPE: "true"}),
    pod("shop", "checkout-0", account="checkout"),
    pod("shop", "checkout-revoked", account="checkout", labels={STRIPE: "true", PARTNER: "true"}),
    WEB,
    pod("billing", "miner", hostNetwork=True),
    pod("quiet", "quiet-1"),
]


@pytest.fixture(scope="module")
def controlplane(binaries: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[ControlPlane]:
    with ControlPlane.started(tmp_path_factory.mktemp("audit-plane"), binaries) as plane:
        install_crds(plane, files=(*CRD_FILES, *REPORT_CRD_FILES))
        yield plane


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example rules, less shop/checkout's partner-api grant (revoked)."""
    copy = tmp_path_factory.mktemp("audit") / "rules"
    shutil.copytree(EXAMPLE_RULES, copy)
    (copy / "services/shop/checkout/orders.partner.example:80.rule").unlink()
    return copy


@pytest.fixture(scope="module")
def seeded(controlplane: ControlPlane) -> Kubectl:
    admin = controlplane.kubectl(ADMIN)
    for document in SEED:
        admin.apply(document, check=True)
    wait_until(lambda: bool((admin.get_json("pods", "-n", "shop", "-l", "app=web")
                             or {}).get("items")),
               timeout=60, what="the controller manager's web pod")
    return admin


def audit(plane: ControlPlane, rules: Path, *args: str,
          identity: Identity = ADMIN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        egressguard_argv("audit", "--rules", str(rules),
                         "--kubeconfig", str(plane.kubeconfig(identity)), *args),
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
        env=local_env(),
    )


def test_the_audit_lists_exactly_what_was_seeded(controlplane: ControlPlane, rules: Path,
                                                 seeded: Kubectl) -> None:
    done = audit(controlplane, rules, "-o", "json", "--page-size", "2")
    assert done.returncode == 1, done.stderr
    found = json.loads(done.stdout)
    listed = sorted((f["object"]["namespace"], f["object"]["kind"],
                     f["object"]["name"].split("-")[0], f["result"], tuple(f["codes"]),
                     (f["owner"] or {}).get("name"))
                    for f in found["findings"])
    assert listed == [
        ("billing", "Pod", "miner", "refused", ("host-network",), None),
        ("shop", "Deployment", "web", "warned", ("privileged",), None),
        ("shop", "Pod", "checkout", "refused", ("managed-label",), None),
        ("shop", "Pod", "web", "warned", ("privileged",), "web"),
        ("shop", "ReplicaSet", "web", "warned", ("privileged",), "web"),
    ]
    drift = sorted((d["pod"]["name"], tuple(d["stale"]), tuple(d["missing"]))
                   for d in found["labels"])
    assert drift == [("checkout-0", (), (STRIPE,)), ("checkout-revoked", (PARTNER,), ())]
    assert found["unfenced"] == ["billing"]
    assert {r["namespace"]: r["ready"] for r in found["readiness"]} == {
        "billing": False, "default": True, "quiet": True, "shop": False}
    assert found["unserved"] == []


def test_the_table_is_for_a_person(controlplane: ControlPlane, rules: Path,
                                   seeded: Kubectl) -> None:
    done = audit(controlplane, rules)
    assert done.returncode == 1, done.stderr
    assert "checkout-revoked" in done.stdout and "not ready" in done.stdout


def test_an_identity_that_may_not_list_everything_gets_an_incomplete_audit_and_exit_2(
        controlplane: ControlPlane, rules: Path, seeded: Kubectl) -> None:
    done = audit(controlplane, rules, "-o", "json", identity=DEVELOPER)
    assert done.returncode == 2
    assert "incomplete: not allowed to list" in done.stderr and "Pod" in done.stderr
    assert "Pod" in json.loads(done.stdout)["unreadable"]


def test_the_reports_apply_to_the_kyverno_crds_and_match_the_audit(
        controlplane: ControlPlane, rules: Path, seeded: Kubectl) -> None:
    done = audit(controlplane, rules, "-o", "reports")
    assert done.returncode == 1, done.stderr
    printed = [d for d in yaml.safe_load_all(done.stdout) if d]
    seeded.run("apply", "--server-side", "--field-manager", "egressguard", "-f", "-",
               stdin=printed, check=True)
    stored = seeded.get_json("policyreports", "-A")["items"]
    assert sorted(r["metadata"]["namespace"] for r in stored) == ["billing", "shop"]
    shop = next(r for r in stored if r["metadata"]["namespace"] == "shop")
    rules_of = sorted((r["resources"][0]["name"].split("-")[0], r["rule"], r["result"])
                      for r in shop["results"])
    assert rules_of == [
        ("checkout", "entitlement-label-missing", "warn"),
        ("checkout", "managed-label", "fail"),
        ("web", "privileged", "warn"), ("web", "privileged", "warn"),
        ("web", "privileged", "warn"),
    ]
    assert shop["summary"]["fail"] == 1 and shop["summary"]["warn"] == 4
    billing = next(r for r in stored if r["metadata"]["namespace"] == "billing")
    assert sorted(r["rule"] for r in billing["results"]) == ["fence-missing", "host-network"]
    assert not (seeded.get_json("clusterpolicyreports") or {}).get("items")


# -- serve --audit-interval, as deploy/'s service account with overlays/audit's RBAC ---------

INTERVAL = "10s"


@pytest.fixture(scope="module")
def auditing(controlplane: ControlPlane, rules: Path, seeded: Kubectl,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, int]]:
    workdir = tmp_path_factory.mktemp("audit-serve")
    manifests = deploy_manifests(seeded, DEPLOY_DIR / "overlays" / "audit")
    kubeconfig = webhook_kubeconfig(controlplane, manifests, workdir / "audit.kubeconfig")
    metrics_port = free_port()
    process = Process(
        "egressguard-audit",
        egressguard_argv(
            "serve", "--rules", str(rules), "--cert-dir", str(workdir / "certs"),
            "--host", "127.0.0.1", "--port", str(free_port()),
            "--metrics-port", str(metrics_port), "--kubeconfig", str(kubeconfig),
            "--namespaces", "cluster", "--own-namespace", "egressguard-system",
            "--audit-interval", INTERVAL, "--lease-seconds", "3", "--log-format", "text"),
        log_path=workdir / "egressguard.log", stdout_path=workdir / "audit.jsonl",
        env=local_env({"PYTHONUNBUFFERED": "1", "POD_NAME": "audit-a"}), cwd=REPO,
    )
    process.start()
    try:
        yield process, metrics_port
    finally:
        process.stop()


def violations(port: int) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = {}
    for match in re.finditer(r'^egressguard_violations\{code="([^"]*)",'
                             r'resource_namespace="([^"]*)"\} (\S+)$', text, re.MULTILINE):
        found[(match.group(1), match.group(2))] = float(match.group(3))
    return found


def audited(process: Process) -> int:
    return process.log_path.read_text().count("audited ")


def test_the_server_writes_the_reports_the_metric_and_events_the_audit_finds(
        controlplane: ControlPlane, rules: Path, seeded: Kubectl,
        auditing: tuple[Process, int]) -> None:
    process, port = auditing
    wait_until(lambda: audited(process) >= 1, timeout=60, what="a periodic audit",
               processes=[process])
    cli = json.loads(audit(controlplane, rules, "-o", "json").stdout)
    expected: dict[tuple[str, str], float] = {}
    for finding in cli["findings"]:
        for code in finding["codes"]:
            key = (code, finding["object"]["namespace"])
            expected[key] = expected.get(key, 0) + 1
    assert violations(port) == expected == {
        ("host-network", "billing"): 1, ("managed-label", "shop"): 1, ("privileged", "shop"): 3}
    printed = [d for d in yaml.safe_load_all(audit(controlplane, rules, "-o", "reports").stdout)
               if d]
    stored = seeded.get_json("policyreports", "-A")["items"]
    assert {r["metadata"]["namespace"]: (r["summary"], r["results"]) for r in stored} == {
        d["metadata"]["namespace"]: (d["summary"], d["results"]) for d in printed}
    fields = seeded.get_json("policyreports", "-A", "--show-managed-fields")["items"]
    assert all(any(f["manager"] == "egressguard" and f["operation"] == "Apply"
                   for f in r["metadata"]["managedFields"]) for r in fields)
    events = seeded.get_json("events", "-n", "shop",
                             "--field-selector", "reason=EgressguardViolation")["items"]
    assert [(e["involvedObject"]["kind"], e["involvedObject"]["name"], e["type"])
            for e in events] == [("Deployment", "web", "Warning")]
    assert "[privileged]" in events[0]["message"]
    assert seeded.get_json("lease", "-n", "egressguard-system", "egressguard-audit")[
        "spec"]["holderIdentity"].startswith("audit-a_")


def test_a_namespace_put_right_loses_its_report_and_its_series(
        seeded: Kubectl, auditing: tuple[Process, int]) -> None:
    process, port = auditing
    seeded("delete", "pod", "-n", "billing", "miner", "--wait=false", "--grace-period=0",
           "--force", check=True)
    seeded.apply(fence("billing"), check=True)
    runs = audited(process)
    wait_until(lambda: audited(process) >= runs + 2, timeout=60, what="two more audits",
               processes=[process])

    def namespaces_reported() -> list[str]:
        return sorted(r["metadata"]["namespace"]
                      for r in seeded.get_json("policyreports", "-A")["items"])

    assert namespaces_reported() == ["shop"]
    assert ("host-network", "billing") not in violations(port)
    events = seeded.get_json("events", "-n", "shop",
                             "--field-selector", "reason=EgressguardViolation")["items"]
    assert len(events) == 1  # said once an hour, not once an audit
