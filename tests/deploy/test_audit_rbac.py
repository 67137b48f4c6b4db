"""The periodic audit's RBAC lists exactly the kinds the webhook judges, writes only its
reports, Events and Lease, and comes with the overlay that turns the audit on."""

from __future__ import annotations

from typing import Any

from webhook.engine.kinds import judged_kinds

from .tools import DEPLOY, kustomize


def plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y") and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    return lower if lower.endswith("s") else lower + "s"


def granted(doc: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for rule in doc["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found.setdefault((group, resource), set()).update(rule["verbs"])
    return found


def test_the_audit_lists_every_judged_kind_and_writes_only_reports_and_events() -> None:
    docs = kustomize(DEPLOY / "overlays" / "audit")
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"
               and d["metadata"]["name"] == "egressguard-audit"]
    expected = {(group, plural(kind)): {"list"} for group, kind in judged_kinds()}
    expected[("wgpolicyk8s.io", "policyreports")] = {"list", "create", "patch", "delete"}
    expected[("wgpolicyk8s.io", "clusterpolicyreports")] = {"list", "create", "patch", "delete"}
    expected[("", "events")] = {"create"}
    assert granted(role) == expected
    (lease,) = [d for d in docs if d["kind"] == "Role"
                and d["metadata"]["name"] == "egressguard-audit"]
    assert granted(lease) == {("coordination.k8s.io", "leases"): {"get", "update", "create"}}
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert "--audit-interval=10m" in deployment["spec"]["template"]["spec"]["containers"][0][
        "args"]
