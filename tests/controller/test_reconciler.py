"""One reconcile against a cluster held in memory: apply, drift, prune."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from tests.example_policy import NOW, example_policy
from webhook.controller.controller import Reconciler
from webhook.controller.desired import FIELD_MANAGER, ObjectKey, key_of
from webhook.controller.kinds import MANAGED_KINDS, ManagedKind
from webhook.controller.stamp import DIGEST_ANNOTATION
from webhook.model.rules import Policy
from webhook.render import RenderMode, RenderOptions

GATEWAY_NAMESPACES = ("istio-egress", "payments-egress")


class MemoryCluster:
    """Server-side apply as the API server does it for one manager: the same content
    keeps the resourceVersion, anything else gets a new one; the stored object carries the
    fields the API server adds (its managed fields, a default) and edits record their
    manager as the API server does (one that only removes fields records none)."""

    def __init__(self, namespaces: list[str]) -> None:
        self.names = [*namespaces, *GATEWAY_NAMESPACES]
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        self.requests = 0
        self.patches = 0
        self._next = 0

    def namespaces(self) -> tuple[list[str], str]:
        return list(self.names), "1"

    def apply(self, key: ObjectKey, document: Mapping[str, Any]) -> str:
        self.requests += 1
        self.patches += 1
        before = self.objects.get(key)
        stored = copy.deepcopy(dict(document))
        stored["metadata"]["managedFields"] = [{"manager": FIELD_MANAGER, "operation": "Apply",
                                                "fieldsV1": fields_of(document)}]
        stored["metadata"]["uid"] = f"uid-{key.name}"  # added by the API server
        if before is not None:
            stored["metadata"]["managedFields"] += [
                entry for entry in before["metadata"]["managedFields"]
                if entry.get("subresource")]
            if "status" in before:
                stored["status"] = before["status"]
            stored["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"]
        if stored != before:
            self._bump(stored)
        self.objects[key] = stored
        return str(stored["metadata"]["resourceVersion"])

    def served_kinds(self) -> tuple[ManagedKind, ...]:
        return MANAGED_KINDS

    def managed(self, kind: ManagedKind) -> list[dict[str, Any]]:
        return [copy.deepcopy(obj) for key, obj in self.objects.items()
                if (key.api_version, key.kind) == (kind.api_version, kind.kind)]

    def delete(self, key: ObjectKey) -> None:
        self.objects.pop(key, None)

    def edit(self, key: ObjectKey, manager: str = "kubectl-edit") -> None:
        """A change to a field: its manager owns it now."""
        obj = self.objects[key]
        obj["spec"] = {"edited": True}
        obj["metadata"]["managedFields"].append({"manager": manager, "operation": "Update"})
        self._bump(obj)

    def remove(self, key: ObjectKey, field: str) -> None:
        """An edit that only removes a field: no manager is recorded for it."""
        obj = self.objects[key]
        del obj["spec"][field]
        self._bump(obj)

    def report_status(self, key: ObjectKey) -> None:
        """Another controller writing the status subresource."""
        obj = self.objects[key]
        obj["status"] = {"observed": self._next}
        obj["metadata"]["managedFields"].append(
            {"manager": "kube-controller-manager", "operation": "Update",
             "subresource": "status"})
        self._bump(obj)

    def _bump(self, obj: dict[str, Any]) -> None:
        self._next += 1
        obj["metadata"]["resourceVersion"] = str(self._next)


def fields_of(document: Mapping[str, Any]) -> dict[str, Any]:
    """The field set the API server records for an apply (lists whole, as atomic lists are;
    the type, name and namespace left out)."""
    def fields(value: Any) -> dict[str, Any]:
        if isinstance(value, Mapping):
            return {f"f:{key}": fields(item) for key, item in value.items()}
        return {}
    found = fields({key: value for key, value in document.items()
                    if key not in ("apiVersion", "kind")})
    metadata = found.get("f:metadata", {})
    metadata.pop("f:name", None)
    metadata.pop("f:namespace", None)
    return found


def reconciler_for(cluster: MemoryCluster) -> Reconciler:
    return Reconciler(cluster, RenderMode.ISTIO_SIDECAR,  # type: ignore[arg-type]
                      RenderOptions(now=NOW))


def test_a_second_reconcile_changes_nothing_and_an_edited_object_is_put_back() -> None:
    cluster = MemoryCluster(["shop", "no-grants"])
    reconciler = Reconciler(cluster, RenderMode.ISTIO_SIDECAR,  # type: ignore[arg-type]
                            RenderOptions(now=NOW))
    first = reconciler.reconcile(example_policy(), NOW)
    assert first.applied == len(cluster.objects) and not first.drifted
    fence = ObjectKey("networking.k8s.io/v1", "NetworkPolicy", "no-grants",
                      "egressguard-fence")
    assert fence in cluster.objects
    again = reconciler.reconcile(example_policy(), NOW)
    assert not again.drifted and not again.pruned
    # Nothing changed since: nothing is sent again.
    assert again.applied == 0 and again.unchanged == first.applied and again.requests == 0
    cluster.edit(fence)
    cluster.delete(next(key for key in cluster.objects if key != fence))
    healed = reconciler.reconcile(example_policy(), NOW)
    assert len(healed.drifted) == 2 and fence in healed.drifted
    assert cluster.objects[fence].get("spec") != {"edited": True}


def test_status_reported_by_another_controller_sends_nothing() -> None:
    cluster = MemoryCluster(["shop"])
    reconciler = reconciler_for(cluster)
    first = reconciler.reconcile(example_policy(), NOW)
    fence = ObjectKey("networking.k8s.io/v1", "NetworkPolicy", "shop", "egressguard-fence")
    cluster.report_status(fence)  # moves the resourceVersion this leader remembers
    cluster.patches = 0
    again = reconciler.reconcile(example_policy(), NOW)
    assert cluster.patches == again.applied == 0 and again.unchanged == first.applied
    # And an edit after the report is still put back, as drift.
    cluster.edit(fence)
    healed = reconciler.reconcile(example_policy(), NOW)
    assert healed.drifted == [fence] and cluster.patches == healed.applied == 1


def test_a_new_leader_sends_nothing_for_an_unchanged_cluster() -> None:
    cluster = MemoryCluster(["shop", "no-grants"])
    first = reconciler_for(cluster).reconcile(example_policy(), NOW)
    fence = ObjectKey("networking.k8s.io/v1", "NetworkPolicy", "shop", "egressguard-fence")
    # Another controller reporting status is not an edit of what was applied.
    cluster.report_status(fence)
    cluster.patches = 0
    takeover = reconciler_for(cluster).reconcile(example_policy(), NOW)
    assert cluster.patches == 0 and takeover.applied == 0
    assert takeover.unchanged == first.applied and not takeover.drifted


def test_a_new_leader_puts_back_what_was_edited_while_no_leader_ran() -> None:
    cluster = MemoryCluster(["shop", "no-grants"])
    reconciler_for(cluster).reconcile(example_policy(), NOW)
    fence = ObjectKey("networking.k8s.io/v1", "NetworkPolicy", "shop", "egressguard-fence")
    stripe = ObjectKey("networking.istio.io/v1", "ServiceEntry", "payments-egress", "stripe")
    deleted = ObjectKey("networking.istio.io/v1", "Gateway", "payments-egress", "stripe")
    expected = {key: copy.deepcopy(cluster.objects[key]["spec"]) for key in (fence, stripe)}
    cluster.edit(fence)
    cluster.remove(stripe, "resolution")  # leaves no field manager behind
    cluster.delete(deleted)
    cluster.patches = 0
    takeover = reconciler_for(cluster).reconcile(example_policy(), NOW)
    assert cluster.patches == takeover.applied == 3
    assert set(takeover.drifted) == {fence, stripe}
    assert deleted in cluster.objects
    assert {key: cluster.objects[key]["spec"] for key in expected} == expected
    # Put back: the leader after this one finds nothing to do.
    cluster.patches = 0
    assert reconciler_for(cluster).reconcile(example_policy(), NOW).applied == 0
    assert cluster.patches == 0


def test_a_new_leader_puts_back_more_applied_as_our_manager_keeping_our_digest() -> None:
    cluster = MemoryCluster(["shop"])
    reconciler_for(cluster).reconcile(example_policy(), NOW)
    fence = ObjectKey("networking.k8s.io/v1", "NetworkPolicy", "shop", "egressguard-fence")
    live = cluster.objects[fence]
    more = {key: copy.deepcopy(live[key]) for key in ("apiVersion", "kind", "spec")}
    more["metadata"] = {key: copy.deepcopy(live["metadata"][key])
                        for key in ("name", "namespace", "labels", "annotations")}
    more["spec"]["ingress"] = [{}]
    cluster.apply(fence, more)  # kubectl apply --server-side --field-manager=egressguard
    takeover = reconciler_for(cluster).reconcile(example_policy(), NOW)
    assert takeover.drifted == [fence] and takeover.applied == 1
    assert "ingress" not in cluster.objects[fence]["spec"]


REVISION = "egressguard.io/rules-revision"


def without(policy: Policy, destination: str, *, revision: str) -> Policy:
    """The rules with one destination and its grants removed, at a new revision."""
    return Policy.build(
        config=policy.config,
        destinations=tuple(d for name, d in policy.destinations.items() if name != destination),
        grants=tuple(g for g in policy.grants if g.destination != destination),
        exceptions=policy.exceptions, revision=revision)


def revisions(cluster: MemoryCluster) -> dict[ObjectKey, str]:
    return {key: obj["metadata"]["annotations"][REVISION]
            for key, obj in cluster.objects.items()}


def test_a_rules_change_applies_only_the_objects_it_changes() -> None:
    cluster = MemoryCluster(["shop"])
    reconciler = reconciler_for(cluster)
    policy = dataclasses.replace(example_policy(), revision="first")
    applied = reconciler.reconcile(policy, NOW).applied
    assert set(revisions(cluster).values()) == {"first"}
    # A change to the rules that changes no object (a grant's reason reworded, a comment):
    # nothing is sent, and every object still names the revision that last changed it.
    cluster.patches = 0
    reworded = reconciler.reconcile(dataclasses.replace(policy, revision="reworded"), NOW)
    assert cluster.patches == reworded.applied == 0 and reworded.unchanged == applied
    assert set(revisions(cluster).values()) == {"first"}
    # A destination removed: its objects are deleted, the ones its removal changes are
    # applied with the new revision, and no other object is sent.
    before = {key: obj["metadata"]["resourceVersion"] for key, obj in cluster.objects.items()}
    removed = reconciler.reconcile(without(policy, "slack", revision="no-slack"), NOW)
    changed = {key for key, obj in cluster.objects.items()
               if obj["metadata"]["resourceVersion"] != before[key]}
    assert removed.pruned and all(key.name.startswith("slack") for key in removed.pruned)
    assert changed and cluster.patches == removed.applied == len(changed)
    assert {key for key, value in revisions(cluster).items() if value == "no-slack"} == changed
    assert not removed.drifted
    assert removed.unchanged == applied - len(removed.pruned) - len(changed)


def test_rules_changed_while_no_leader_ran_apply_only_what_they_change_and_are_not_drift(
) -> None:
    cluster = MemoryCluster(["shop"])
    policy = example_policy()
    first = reconciler_for(cluster).reconcile(policy, NOW)
    cluster.patches = 0
    reworded = reconciler_for(cluster).reconcile(
        dataclasses.replace(policy, revision="reworded"), NOW)
    assert cluster.patches == reworded.applied == 0 and reworded.unchanged == first.applied
    takeover = reconciler_for(cluster).reconcile(without(policy, "slack", revision="no-slack"),
                                                 NOW)
    assert 0 < takeover.applied == cluster.patches < first.applied - len(takeover.pruned)
    assert not takeover.drifted
    # Edited while no leader ran and changed by the rules too: applied, and counted as drift
    # only when the apply puts back what was applied before.
    fence = ObjectKey("networking.k8s.io/v1", "NetworkPolicy", "shop", "egressguard-fence")
    cluster.edit(fence)
    cluster.patches = 0
    healed = reconciler_for(cluster).reconcile(without(policy, "slack", revision="later"), NOW)
    assert cluster.patches == healed.applied == 1 and healed.drifted == [fence]
    assert cluster.objects[fence]["spec"] != {"edited": True}


def test_objects_applied_without_a_digest_are_applied_once_and_not_counted_as_drift() -> None:
    cluster = MemoryCluster(["shop"])
    first = reconciler_for(cluster).reconcile(example_policy(), NOW)
    for obj in cluster.objects.values():
        del obj["metadata"]["annotations"][DIGEST_ANNOTATION]
    takeover = reconciler_for(cluster).reconcile(example_policy(), NOW)
    assert takeover.applied == first.applied and not takeover.drifted
    cluster.patches = 0
    assert reconciler_for(cluster).reconcile(example_policy(), NOW).applied == 0


def test_a_destination_removed_from_the_rules_is_deleted_from_the_cluster() -> None:
    cluster = MemoryCluster(["shop"])
    reconciler = Reconciler(cluster, RenderMode.ISTIO_SIDECAR,  # type: ignore[arg-type]
                            RenderOptions(now=NOW))
    policy = example_policy()
    reconciler.reconcile(policy, NOW)
    removed = sorted(policy.destinations)[0]
    before = set(cluster.objects)
    smaller = type(policy).build(
        config=policy.config,
        destinations=tuple(d for name, d in policy.destinations.items() if name != removed),
        grants=tuple(g for g in policy.grants if g.destination != removed),
        exceptions=policy.exceptions, revision="smaller")
    outcome = reconciler.reconcile(smaller, NOW)
    assert outcome.pruned and set(outcome.pruned) == before - set(cluster.objects)
    assert all(removed in key.name or key.kind != "ServiceEntry" for key in outcome.pruned)
    assert all(key_of(obj) == key for key, obj in cluster.objects.items())


def test_objects_for_a_namespace_that_does_not_exist_wait_for_it() -> None:
    cluster = MemoryCluster(["shop"])
    cluster.names.remove("payments-egress")
    reconciler = Reconciler(cluster, RenderMode.ISTIO_SIDECAR,  # type: ignore[arg-type]
                            RenderOptions(now=NOW))
    outcome = reconciler.reconcile(example_policy(), NOW)
    # The gateway's namespace, and namespaces with grants but not created yet.
    assert {key.namespace for key in outcome.waiting} == {"payments-egress", "ci", "data"}
    assert all(key.namespace in cluster.names for key in cluster.objects)
