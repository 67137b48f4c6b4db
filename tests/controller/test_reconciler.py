"""One reconcile against a cluster held in memory: apply, drift, prune."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tests.example_policy import NOW, example_policy
from webhook.controller.controller import Reconciler
from webhook.controller.desired import FIELD_MANAGER, ObjectKey, key_of
from webhook.controller.kinds import MANAGED_KINDS, ManagedKind
from webhook.render import RenderMode, RenderOptions

GATEWAY_NAMESPACES = ("istio-egress", "payments-egress")


class MemoryCluster:
    """Server-side apply as the API server does it for one manager: the same content
    keeps the resourceVersion, anything else gets a new one."""

    def __init__(self, namespaces: list[str]) -> None:
        self.names = [*namespaces, *GATEWAY_NAMESPACES]
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        self.versions: dict[ObjectKey, int] = {}
        self.content: dict[ObjectKey, dict[str, Any]] = {}
        self.requests = 0
        self._next = 0

    def namespaces(self) -> tuple[list[str], str]:
        return list(self.names), "1"

    def apply(self, key: ObjectKey, document: Mapping[str, Any]) -> str:
        if self.content.get(key) != document:
            self.content[key] = copy.deepcopy(dict(document))
            self._next += 1
            self.versions[key] = self._next
            stored = copy.deepcopy(dict(document))
            stored["metadata"]["managedFields"] = [{"manager": FIELD_MANAGER,
                                                    "operation": "Apply"}]
            stored["metadata"]["resourceVersion"] = str(self._next)
            self.objects[key] = stored
        self.requests += 1
        return str(self.versions[key])

    def served_kinds(self) -> tuple[ManagedKind, ...]:
        return MANAGED_KINDS

    def managed(self, kind: ManagedKind) -> list[dict[str, Any]]:
        return [obj for key, obj in self.objects.items()
                if (key.api_version, key.kind) == (kind.api_version, kind.kind)]

    def delete(self, key: ObjectKey) -> None:
        self.objects.pop(key, None)
        self.content.pop(key, None)

    def edit(self, key: ObjectKey) -> None:
        self._next += 1
        self.versions[key] = self._next
        metadata = {**self.objects[key]["metadata"], "resourceVersion": str(self._next)}
        self.objects[key] = {**self.objects[key], "metadata": metadata, "spec": {"edited": True}}
        self.content[key] = {**self.content[key], "spec": {"edited": True}}


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
