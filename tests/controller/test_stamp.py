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
    with_revision,
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
# As the API server records our apply of DOCUMENT (metadata.name and namespace are left out;
# the list of ports is keyed by port and protocol, whose default the API server fills in).
FIELDS = {
    "f:metadata": {"f:labels": {"f:app.kubernetes.io/managed-by": {}},
                   "f:annotations": {"f:" + DIGEST_ANNOTATION: {}}},
    "f:spec": {"f:podSelector": {}, "f:policyTypes": {"v:\"Egress\"": {}}, "f:enabled": {},
               "f:egress": {"i:0": {"f:to": {}, "f:ports": {
                   'k:{"port":53,"protocol":"TCP"}': {".": {}, "f:port": {}}}}}},
}
OURS = {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": FIELDS}


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


@pytest.mark.parametrize(("extra", "where"), [
    ({"f:metadata": {"f:labels": {"f:team": {}}}}, "metadata.labels.team"),
    ({"f:spec": {"f:ingress": {}}}, "spec.ingress"),
    ({"f:spec": {"f:policyTypes": {'v:"Ingress"': {}}}}, 'spec.policyTypes["Ingress"]'),
    ({"f:spec": {"f:egress": {"i:0": {"f:ports": {'k:{"port":80}': {}}}}}},
     'spec.egress[0].ports[{"port":80}]'),
    ({"f:spec": {"f:egress": {"i:3": {}}}}, "spec.egress[i:3]"),
])
def test_our_manager_owning_more_than_we_apply_is_not_in_step(
        extra: dict[str, Any], where: str) -> None:
    """Someone applied more than we do as field manager egressguard, keeping our digest."""
    fields = copy.deepcopy(FIELDS)
    merge(fields, extra)
    obj = live()
    obj["metadata"]["managedFields"] = [{**OURS, "fieldsV1": fields}]
    found = difference(obj, DOCUMENT, digest(DOCUMENT))
    assert found is not None and where in found


def test_our_fields_unreadable_are_not_in_step() -> None:
    obj = live()
    obj["metadata"]["managedFields"] = [{**OURS, "fieldsV1": None}]
    assert difference(obj, DOCUMENT, digest(DOCUMENT)) is not None
    obj["metadata"]["managedFields"] = [OURS, OURS]
    assert difference(obj, DOCUMENT, digest(DOCUMENT)) is not None


def merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and value and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def atomic() -> dict[str, Any]:
    """Our apply as recorded when the egress list is atomic (NetworkPolicy's is): owned
    whole, its items not shown."""
    fields = copy.deepcopy(FIELDS)
    fields["f:spec"]["f:egress"] = {}
    obj = live()
    obj["metadata"]["managedFields"] = [{**OURS, "fieldsV1": fields}]
    return obj


def test_an_atomic_list_as_applied_with_a_port_s_default_protocol_is_in_step() -> None:
    assert difference(atomic(), DOCUMENT, digest(DOCUMENT)) is None


@pytest.mark.parametrize(("item", "extra", "where"), [
    ((0,), {"from": [{}]}, "spec.egress[0].from"),
    ((0, "ports", 0), {"endPort": 60000}, "spec.egress[0].ports[0].endPort"),
    ((0, "ports", 0), {"protocol": "UDP"}, "spec.egress[0].ports[0].protocol"),
    ((0, "to", 0), {"ipBlock": {"cidr": "0.0.0.0/0"}}, "spec.egress[0].to[0].ipBlock"),
])
def test_more_inside_an_atomic_list_is_not_in_step(
        item: tuple[Any, ...], extra: dict[str, Any], where: str) -> None:
    """Invisible in the field managers: the list is ours whole, whoever applied it as us."""
    obj = atomic()
    target = obj["spec"]["egress"]
    for step in item:
        target = target[step]
    target.update(extra)
    assert difference(obj, DOCUMENT, digest(DOCUMENT)) == f"{where} differs"


def test_an_object_that_cannot_be_read_is_not_in_step() -> None:
    obj = live()
    obj["metadata"] = {"annotations": "not a map"}
    assert difference(obj, DOCUMENT, digest(DOCUMENT)) == "no digest"
    obj["metadata"] = ["not", "a", "map"]
    assert difference(obj, DOCUMENT, digest(DOCUMENT)) == "unreadable (AttributeError)"


REVISION = "egressguard.io/rules-revision"


def revised(revision: str) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    document["metadata"]["annotations"] = {REVISION: revision, "other": "kept"}
    return document


def test_a_document_takes_the_revision_the_earlier_object_carries() -> None:
    earlier = live(revised("first"))
    kept = with_revision(revised("second"), REVISION, earlier)
    assert kept == revised("first")
    # The rest of the document stays as the new rules have it, so any other difference
    # still shows when the object is compared with it.
    changed = revised("second")
    changed["spec"]["enabled"] = False
    assert with_revision(changed, REVISION, earlier)["spec"]["enabled"] is False
    assert difference(earlier, with_revision(changed, REVISION, earlier),
                      digest(with_revision(changed, REVISION, earlier))) is not None
    assert difference(earlier, kept, digest(kept)) is None


@pytest.mark.parametrize("earlier", [
    None, {}, {"metadata": None}, {"metadata": []}, {"metadata": {"annotations": []}},
    {"metadata": {"annotations": {}}}, {"metadata": {"annotations": {REVISION: 7}}},
    {"metadata": {"annotations": {REVISION: "second"}}},
])
def test_without_a_readable_earlier_revision_the_document_is_left_as_it_is(
        earlier: dict[str, Any] | None) -> None:
    document = revised("second")
    assert with_revision(document, REVISION, earlier) is document


def test_a_document_without_the_revision_annotation_gets_none() -> None:
    assert with_revision(DOCUMENT, REVISION, live(revised("first"))) is DOCUMENT
