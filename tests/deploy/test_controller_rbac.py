"""The controller's RBAC grants exactly what it writes: the kinds render can produce
(list, watch, create, patch, delete), namespaces (list, watch), its Lease; in kustomize's
controller overlay and the chart alike, and only with the controller on."""

from __future__ import annotations

from typing import Any

from webhook.controller.kinds import MANAGED_KINDS

from .tools import DEPLOY, helm_template, kustomize

WRITES = {"list", "watch", "create", "patch", "delete"}


def _rules(docs: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    (found,) = [doc for doc in docs if doc["kind"] == kind
                and doc["metadata"]["name"] == name]
    return list(found["rules"])


def _granted(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert "resourceNames" not in rule or rule["resourceNames"]
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def _expected() -> dict[tuple[str, str], set[str]]:
    expected = {(kind.group, kind.plural): set(WRITES) for kind in MANAGED_KINDS}
    expected[("", "namespaces")] = {"list", "watch"}
    return expected


def test_the_cluster_role_covers_exactly_the_kinds_render_can_produce() -> None:
    docs = kustomize(DEPLOY / "overlays" / "controller")
    assert _granted(_rules(docs, "ClusterRole", "egressguard-controller")) == _expected()
    lease = _granted(_rules(docs, "Role", "egressguard-controller"))
    assert lease == {("coordination.k8s.io", "leases"): {"get", "update", "create"}}
    (deployment,) = [doc for doc in docs if doc["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--reconcile" in args
    assert "--controller-service-account=$(POD_NAMESPACE):egressguard" in args


def test_the_chart_grants_the_same_only_with_the_controller_on() -> None:
    off = helm_template()
    assert not [doc for doc in off if doc["metadata"]["name"] == "egressguard-controller"]
    on = helm_template("controller.enabled=true")
    assert _granted(_rules(on, "ClusterRole", "egressguard-controller")) == _expected()
    (role,) = [doc for doc in on if doc["kind"] == "Role"
               and doc["metadata"]["name"] == "egressguard-controller"]
    assert role["metadata"]["namespace"] == "egressguard-system"
    (deployment,) = [doc for doc in on if doc["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--controller-service-account=$(POD_NAMESPACE):egressguard" in args


def test_the_base_install_grants_the_controller_nothing() -> None:
    docs = kustomize(DEPLOY)
    assert not [doc for doc in docs if doc["metadata"]["name"] == "egressguard-controller"]
