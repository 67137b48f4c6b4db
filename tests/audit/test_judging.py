"""The audit of a small cluster (cluster.yaml, read top to bottom) against the example rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.example_policy import NOW, example_policy
from webhook.audit.findings import Audit, ObjectRef, Result
from webhook.audit.inventory import snapshot_of
from webhook.audit.judging import audit

CLUSTER = Path(__file__).with_name("cluster.yaml")


def documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(CLUSTER.read_text()) if d]


@pytest.fixture(scope="module")
def result() -> Audit:
    return audit(snapshot_of(documents(), []), example_policy(), now=NOW)


def test_each_object_refused_or_warned_about_now_is_listed_once_with_its_codes(
        result: Audit) -> None:
    listed = [(f.object.namespace, f.object.kind, f.object.name, f.result, f.codes)
              for f in result.findings]
    assert listed == [
        ("billing", "Pod", "miner", Result.REFUSED, ("host-network",)),
        ("shop", "Deployment", "web", Result.WARNED, ("privileged",)),
        ("shop", "Pod", "notifier-1", Result.REFUSED, ("managed-label",)),
        ("shop", "Pod", "web-5d9f-x7k2p", Result.WARNED, ("privileged",)),
        ("shop", "ReplicaSet", "web-5d9f", Result.WARNED, ("privileged",)),
    ]


def test_a_controller_created_pod_names_its_top_owner(result: Audit) -> None:
    owners = {f.object.name: f.owner for f in result.findings}
    web = ObjectRef("apps/v1", "Deployment", "shop", "web", "deploy-web")
    assert owners["web-5d9f-x7k2p"] == web
    assert owners["web-5d9f"] == web
    assert owners["web"] is None and owners["miner"] is None


def test_labels_kept_after_a_grant_expired_and_labels_granted_since_are_listed(
        result: Audit) -> None:
    drift = [(d.pod.name, d.service_account, d.stale, d.missing) for d in result.labels]
    assert drift == [
        ("checkout-0", "checkout", (),
         ("egressguard.io/allow-partner-api", "egressguard.io/allow-stripe")),
        ("notifier-1", "notifier", ("egressguard.io/allow-slack",), ()),
    ]


def test_judged_namespaces_without_our_fence_are_listed(result: Audit) -> None:
    assert result.unfenced == ("billing",)


def test_each_judged_namespace_gets_a_readiness_line(result: Audit) -> None:
    lines = {r.namespace: (r.mode, r.ready, r.line) for r in result.readiness}
    assert lines == {
        "billing": ("enforce", False, "enforcing; 1 object would be refused (host-network 1); "
                    "no egressguard-fence NetworkPolicy"),
        "quiet": ("enforce", True, "enforcing"),
        "shop": ("warn", False, "not ready: 4 objects would be refused (managed-label 1, "
                 "privileged 3)"),
    }


def test_exempt_namespaces_are_not_judged(result: Audit) -> None:
    assert all(f.object.namespace != "kube-system" for f in result.findings)
    assert "kube-system" not in {r.namespace for r in result.readiness}


def test_a_namespace_mode_label_is_read_not_refused(result: Audit) -> None:
    assert not [f for f in result.findings if f.object.kind == "Namespace"]


def test_the_metric_counts_objects_per_code_and_namespace(result: Audit) -> None:
    assert result.violation_counts() == {
        ("host-network", "billing"): 1,
        ("managed-label", "shop"): 1,
        ("privileged", "shop"): 3,
    }


def test_a_namespace_in_warn_mode_with_nothing_wrong_is_ready() -> None:
    docs = [d for d in documents()
            if (d["metadata"].get("namespace") or d["metadata"]["name"]) in ("shop",)
            and d["kind"] in ("Namespace", "NetworkPolicy")]
    ready = audit(snapshot_of(docs, []), example_policy(), now=NOW)
    assert [(r.namespace, r.line) for r in ready.readiness] == [("shop", "ready for enforce")]
    assert ready.clean


def test_an_off_namespace_is_judged_as_enforce_for_readiness() -> None:
    docs = documents()
    docs[0]["metadata"]["labels"] = {"egressguard.io/mode": "off"}
    result = audit(snapshot_of(docs, []), example_policy(), now=NOW)
    shop = next(r for r in result.readiness if r.namespace == "shop")
    assert (shop.mode, shop.refused_objects) == ("off", 4)
    # In off mode only the codes enforced in every mode are listed.
    assert {f.object.name for f in result.findings if f.object.namespace == "shop"} == {
        "notifier-1"}


def test_objects_egressguard_applied_itself_are_left_out() -> None:
    open_policy = {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "gateway-out", "namespace": "billing",
                     "labels": {"app.kubernetes.io/managed-by": "egressguard"},
                     "managedFields": [{"manager": "egressguard", "operation": "Apply"}]},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
    }
    team_copy = {**open_policy, "metadata": {"name": "team-out", "namespace": "billing"}}
    result = audit(snapshot_of([*documents(), open_policy, team_copy], []), example_policy(),
                   now=NOW)
    names = {f.object.name: f.codes for f in result.findings if f.object.kind == "NetworkPolicy"}
    assert names == {"team-out": ("netpol-open-egress",)}


def test_a_fence_without_our_label_does_not_count() -> None:
    docs = documents()
    docs[4]["metadata"]["labels"] = {}
    assert "shop" in audit(snapshot_of(docs, []), example_policy(), now=NOW).unfenced


def test_a_cluster_wide_fence_fences_every_namespace() -> None:
    fence = {"apiVersion": "policy.networking.k8s.io/v1beta1", "kind": "ClusterNetworkPolicy",
             "metadata": {"name": "egressguard-fence",
                          "labels": {"app.kubernetes.io/managed-by": "egressguard"}}}
    assert audit(snapshot_of([*documents(), fence], []), example_policy(),
                 now=NOW).unfenced == ()


def test_kinds_the_audit_may_not_list_are_named_so_the_result_is_not_taken_as_whole() -> None:
    from webhook.audit.table import table
    result = audit(snapshot_of(documents(), [], ["apps/Deployment"]), example_policy(), now=NOW)
    assert result.unreadable == ("apps/Deployment",)
    assert "INCOMPLETE: not allowed to list (grant list on them): apps/Deployment" in \
        table(result)


def test_objects_of_any_shape_are_judged_without_failing_the_audit() -> None:
    labels = {"egressguard.io/allow-x": "1"}
    odd = [{"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "odd", "namespace": "quiet", "labels": labels},
            "spec": "not a spec"},
           {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": "nothing"}]
    result = audit(snapshot_of([*documents(), *odd], []), example_policy(), now=NOW)
    odd_pod = next(d for d in result.labels if d.pod.name == "odd")
    assert (odd_pod.service_account, odd_pod.stale) == ("default", ("egressguard.io/allow-x",))
