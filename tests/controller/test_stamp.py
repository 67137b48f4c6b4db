"""Whether a listed object is still what the controller applied, from the object alone."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.example_policy import NOW, example_policy
from webhook.controller.desired import FIELD_MANAGER, desired_objects
from webhook.controller.stamp import (
    DIGEST_ANNOTATION,
    difference,
    digest,
    first_mismatch,
    foreign_managers,
    stamped,
)
from webhook.render import RenderMode, RenderOptions

DOCUMENT: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "egressguard-fence", "namespace": "shop",
                 "labels": {"app.kubernetes.io/managed-by": "egressguard"}},
    "spec": {"podSelector": {}, "policyTypes": ["Egress"],
             "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": 53}]}],
             "enabled": True},
}
OURS = {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {}}}


def live(document: dict[str, Any] = DOCUMENT, *entries: dict[str, Any]) -> dict[str, Any]:
    """As the API server returns the applied document: stamped, with a default filled in
    and its bookkeeping."""
    obj = stamped(document, digest(document))
    obj["metadata"].update(resourceVersion="7", uid="u", managedFields=[OURS, *entries])
    obj["spec"]["egress"][0]["ports"][0]["protocol"] = "TCP"
    return obj


def test_the_applied_object_as_the_api_server_returns_it_is_in_step() -> None:
    assert difference(live(), DOCUMENT, digest(DOCUMENT)) is None
    status = {"manager": "kube-controller-manager", "operation": "Update",
              "subresource": "status"}
    assert difference(live(DOCUMENT, status), DOCUMENT, digest(DOCUMENT)) is None


def test_stamping_leaves_render_s_document_alone_and_render_writes_no_digest() -> None:
    before = copy.deepcopy(DOCUMENT)
    applied = stamped(DOCUMENT, "sha256:x")
    assert before == DOCUMENT
    assert applied["metadata"]["annotations"] == {DIGEST_ANNOTATION: "sha256:x"}
    rendered = desired_objects(example_policy(), RenderMode.ISTIO_SIDECAR,
                               RenderOptions(now=NOW), ["shop"])
    assert rendered and all(
        DIGEST_ANNOTATION not in (doc["metadata"].get("annotations") or {})
        for doc in rendered.values())


def test_the_digest_ignores_key_order_and_follows_every_value() -> None:
    reordered = dict(reversed(list(DOCUMENT.items())))
    assert digest(reordered) == digest(DOCUMENT)
    changed = copy.deepcopy(DOCUMENT)
    changed["spec"]["policyTypes"] = ["Egress", "Ingress"]
    assert digest(changed) != digest(DOCUMENT)


@pytest.mark.parametrize(("entry", "reason"), [
    ({"manager": "kubectl-edit", "operation": "Update"}, "kubectl-edit (Update)"),
    ({"manager": "kubectl", "operation": "Apply"}, "kubectl (Apply)"),
    ({"manager": FIELD_MANAGER, "operation": "Update"}, "egressguard (Update)"),
    ({"manager": "before-first-apply", "operation": "Update"}, "before-first-apply"),
])
def test_another_manager_of_the_object_itself_is_not_in_step(
        entry: dict[str, Any], reason: str) -> None:
    found = difference(live(DOCUMENT, entry), DOCUMENT, digest(DOCUMENT))
    assert found is not None and reason in found


def test_no_or_unreadable_managed_fields_are_not_in_step() -> None:
    obj = live()
    obj["metadata"]["managedFields"] = []
    assert foreign_managers(obj) == ["(no managed fields)"]
    obj["metadata"]["managedFields"] = [OURS, "junk"]
    assert foreign_managers(obj) == ["(unreadable entry)"]


def test_a_removed_field_with_no_manager_left_behind_is_not_in_step() -> None:
    obj = live()
    del obj["spec"]["policyTypes"]
    assert difference(obj, DOCUMENT, digest(DOCUMENT)) == "spec.policyTypes differs"


@pytest.mark.parametrize(("path", "value"), [
    (("spec", "enabled"), 1),          # a number is not a boolean
    (("spec", "policyTypes"), ["Egress", "Ingress"]),
    (("spec", "podSelector"), []),
    (("spec", "egress"), []),
])
def test_a_different_value_is_not_in_step(path: tuple[str, str], value: Any) -> None:
    obj = live()
    obj[path[0]][path[1]] = value
    assert first_mismatch(obj, DOCUMENT, "") == ".".join(path)


def test_a_digest_missing_or_of_other_content_is_not_in_step() -> None:
    obj = live()
    assert difference(obj, DOCUMENT, "sha256:other") == "another digest"
    del obj["metadata"]["annotations"][DIGEST_ANNOTATION]
    assert difference(obj, DOCUMENT, digest(DOCUMENT)) == "no digest"
