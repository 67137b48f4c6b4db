"""managed-object, and the DELETEs that empty a namespace being deleted."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from tests.engine.infra_policy import ARGOCD, DEVELOPER, request
from tests.example_policy import NOW, example_policy
from webhook.controller.kinds import MANAGED_KINDS, ManagedKind
from webhook.engine import evaluate
from webhook.engine.kinds import handler_for, judged_kinds
from webhook.engine.network import judge_network_policy_change
from webhook.model.decision import Decision
from webhook.model.review import UserInfo

MANAGED = {"app.kubernetes.io/managed-by": "egressguard"}
NAMESPACE_CONTROLLER = UserInfo(
    username="system:serviceaccount:kube-system:namespace-controller"
)
# Kinds whose objects live outside namespaces, or only in the API server's CONNECT requests.
NOT_RENDERED = {"Namespace", "PodExecOptions", "PodAttachOptions"}


def managed(kind: str, group: str, namespace: str = "shop") -> dict[str, Any]:
    api_version = f"{group}/v1" if group else "v1"
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": "rendered", "namespace": namespace, "labels": dict(MANAGED),
                         "resourceVersion": "1"},
            "spec": {}}


def run(obj: dict[str, Any] | None, *, old: dict[str, Any] | None, operation: str,
        user: UserInfo = DEVELOPER,
        terminating: bool = False) -> Decision:
    return evaluate(request(obj, old=old, operation=operation, user=user), example_policy(),
                    now=NOW, namespace_labels={}, namespace_terminating=terminating)


@pytest.mark.parametrize(
    ("group", "kind"), [k for k in judged_kinds() if k[1] not in NOT_RENDERED]
)
def test_deleting_a_managed_object_of_any_judged_kind(group: str, kind: str) -> None:
    decision = run(None, old=managed(kind, group), operation="DELETE")
    assert not decision.allowed
    # The fence's policy kinds keep their own code for it (netpol-open-egress).
    handler = handler_for(group, kind)
    assert handler is not None
    fence = handler.transition is judge_network_policy_change
    expected = "netpol-open-egress" if fence else "managed-object"
    assert decision.codes == (expected,)


@pytest.mark.parametrize("managed_kind", MANAGED_KINDS, ids=lambda k: f"{k.group}/{k.kind}")
def test_every_kind_render_writes_is_judged_on_update_and_delete(
        managed_kind: ManagedKind) -> None:
    """Including kinds with no check of their own (autoscalers, disruption budgets): the
    API server sends their UPDATEs and DELETEs, and none may pass unjudged."""
    namespace = "" if not managed_kind.namespaced else "istio-egress"
    old = managed(managed_kind.kind, managed_kind.group, namespace)
    changed = copy.deepcopy(old)
    changed["spec"] = {"changed": True}
    for decision in (run(None, old=old, operation="DELETE"),
                     run(changed, old=old, operation="UPDATE")):
        assert not decision.allowed, managed_kind
        assert set(decision.codes) & {"managed-object", "netpol-open-egress"}, managed_kind
    assert run(changed, old=old, operation="UPDATE", user=ARGOCD).allowed


def test_a_kind_without_checks_is_still_admitted_on_create_and_when_unmanaged() -> None:
    autoscaler = managed("HorizontalPodAutoscaler", "autoscaling")
    assert run(autoscaler, old=None, operation="CREATE").allowed
    unmanaged = copy.deepcopy(autoscaler)
    unmanaged["metadata"]["labels"] = {}
    changed = copy.deepcopy(unmanaged)
    changed["spec"] = {"maxReplicas": 1}
    assert run(changed, old=unmanaged, operation="UPDATE").allowed
    assert run(None, old=unmanaged, operation="DELETE").allowed


@pytest.mark.parametrize(
    "change",
    [
        lambda o: o["spec"].update(hosts=["x"]),
        lambda o: o["metadata"].update(labels={}),
        lambda o: o["metadata"].update(annotations={"istio.io/dry-run": "true"}),
        lambda o: o["metadata"].update(annotations={"networking.istio.io/exportTo": "."}),
        lambda o: o["metadata"].update(ownerReferences=[{"kind": "Job", "name": "j"}]),
        lambda o: o.update(data={"k": "v"}),
    ],
)
def test_an_update_that_changes_a_managed_object(change: Any) -> None:
    old = managed("VirtualService", "networking.istio.io")
    new = copy.deepcopy(old)
    change(new)
    assert run(new, old=old, operation="UPDATE").codes == ("managed-object",)


def test_bookkeeping_notes_and_status_are_not_changes() -> None:
    old = managed("VirtualService", "networking.istio.io")
    new = copy.deepcopy(old)
    new["metadata"].update(resourceVersion="2", generation=3, managedFields=[{"m": "x"}],
                           annotations={"team.example.com/owner": "shop", "note": "x"})
    new["status"] = {"conditions": []}
    assert run(new, old=old, operation="UPDATE").allowed


def test_labelling_an_object_managed_does_not_make_it_so() -> None:
    old = managed("VirtualService", "networking.istio.io")
    old["metadata"]["labels"] = {}
    new = managed("VirtualService", "networking.istio.io")
    assert run(new, old=old, operation="UPDATE").allowed


def test_a_trusted_principal_changes_and_deletes_managed_objects() -> None:
    old = managed("AuthorizationPolicy", "security.istio.io", "istio-egress")
    assert run(None, old=old, operation="DELETE", user=ARGOCD).allowed


def test_unmanaged_objects_are_deleted_freely() -> None:
    old = managed("VirtualService", "networking.istio.io")
    old["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "helm"}
    assert run(None, old=old, operation="DELETE").allowed


def test_a_delete_without_old_object_is_refused() -> None:
    obj = managed("VirtualService", "networking.istio.io")
    bare = dataclasses.replace(request(obj, operation="DELETE"), object=None, old_object=None)
    decision = evaluate(bare, example_policy(), now=NOW, namespace_labels={})
    assert decision.codes == ("managed-object",)
    assert "cannot tell" in decision.messages[0]


class TestNamespaceDeletion:
    @pytest.mark.parametrize("kind", [("networking.k8s.io", "NetworkPolicy"),
                                      ("security.istio.io", "AuthorizationPolicy")])
    def test_the_namespace_controller_empties_a_gateway_namespace(
        self, kind: tuple[str, str]
    ) -> None:
        old = managed(kind[1], kind[0], "istio-egress")
        assert run(None, old=old, operation="DELETE", user=NAMESPACE_CONTROLLER).allowed

    def test_any_delete_in_a_terminating_namespace_is_admitted(self) -> None:
        old = managed("NetworkPolicy", "networking.k8s.io", "payments-egress")
        assert not run(None, old=old, operation="DELETE").allowed
        assert run(None, old=old, operation="DELETE", terminating=True).allowed

    def test_only_deletes_are_admitted_in_a_terminating_namespace(self) -> None:
        old = managed("VirtualService", "networking.istio.io")
        new = copy.deepcopy(old)
        new["spec"]["hosts"] = ["x"]
        assert not run(new, old=old, operation="UPDATE", terminating=True).allowed
        create = run({**new, "spec": {"hosts": ["api.stripe.com"]}}, old=None,
                     operation="CREATE", user=NAMESPACE_CONTROLLER, terminating=True)
        assert create.codes == ("egress-route",)
