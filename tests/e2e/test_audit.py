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
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .controlplane import ADMIN, ControlPlane
from .crds import CRD_FILES, REPORT_CRD_FILES, install_crds
from .kubectl import Kubectl
from .processes import local_env, wait_until
from .webhook_process import EXAMPLE_RULES, REPO, egressguard_argv

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


def audit(plane: ControlPlane, rules: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        egressguard_argv("audit", "--rules", str(rules),
                         "--kubeconfig", str(plane.kubeconfig(ADMIN)), *args),
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
