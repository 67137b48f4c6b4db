"""Namespaces: mesh opt-outs and the mode label, judged by the engine."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.infra_policy import ARGOCD, SECURITY_ADMIN, judge
from webhook.model.decision import Decision
from webhook.model.rules import Mode

MODE = "egressguard.io/mode"


def namespace(name: str = "team", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}}}


def codes(decision: Decision) -> list[str]:
    return sorted(decision.codes)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"istio-injection": "enabled"}, []),
        ({"istio.io/dataplane-mode": "ambient"}, []),
        ({}, []),
        ({"istio-injection": "disabled"}, ["mesh-opt-out"]),
        ({"istio-injection": "Enabled"}, ["mesh-opt-out"]),
        ({"istio-injection": ""}, ["mesh-opt-out"]),
        ({"istio.io/dataplane-mode": "none"}, ["mesh-opt-out"]),
        ({"istio.io/dataplane-mode": "Ambient"}, ["mesh-opt-out"]),
    ],
)
def test_mesh_labels_on_create(labels: dict[str, str], expected: list[str]) -> None:
    assert codes(judge(namespace(**labels))) == expected


def test_both_opt_outs_are_reported_at_their_labels() -> None:
    decision = judge(namespace(**{"istio-injection": "disabled",
                                  "istio.io/dataplane-mode": "none"}))
    assert {v.path for v in decision.violations} == {
        'metadata.labels["istio-injection"]', 'metadata.labels["istio.io/dataplane-mode"]'}


@pytest.mark.parametrize("label", ["istio-injection", "istio.io/dataplane-mode"])
def test_removing_a_mesh_label_is_an_opt_out(label: str) -> None:
    value = "enabled" if label == "istio-injection" else "ambient"
    decision = judge(namespace(), old=namespace(**{label: value}), operation="UPDATE")
    assert codes(decision) == ["mesh-opt-out"]


def test_keeping_an_existing_opt_out_is_warned_not_refused() -> None:
    old = namespace(**{"istio-injection": "disabled"})
    decision = judge(namespace(**{"istio-injection": "disabled", "team": "a"}), old=old,
                     operation="UPDATE")
    assert decision.allowed
    assert any("already present" in w for w in decision.warnings)


@pytest.mark.parametrize(
    ("old", "new", "refused"),
    [
        (None, {MODE: "warn"}, True),
        (None, {MODE: "enforce"}, True),
        (None, {}, False),
        ({}, {MODE: "off"}, True),
        ({MODE: "warn"}, {MODE: "off"}, True),
        ({MODE: "warn"}, {}, True),
        ({MODE: "warn"}, {MODE: "warn", "team": "a"}, False),
        ({MODE: "bogus"}, {MODE: "bogus"}, False),
    ],
)
def test_mode_label(old: dict[str, str] | None, new: dict[str, str], refused: bool) -> None:
    before = None if old is None else namespace(**old)
    decision = judge(namespace(**new), old=before,
                     operation="CREATE" if old is None else "UPDATE")
    assert decision.allowed is not refused
    assert codes(decision) == (["namespace-mode"] if refused else [])


def test_namespace_objects_are_judged_in_enforce_mode_whatever_their_own_mode() -> None:
    old = namespace(**{MODE: "off", "istio-injection": "enabled"})
    new = namespace(**{MODE: "off", "istio-injection": "disabled"})
    decision = judge(new, old=old, operation="UPDATE", namespace_labels={MODE: "off"})
    assert decision.mode is Mode.ENFORCE
    assert not decision.allowed and decision.codes == ("mesh-opt-out",)


@pytest.mark.parametrize("user", [SECURITY_ADMIN, ARGOCD], ids=["user", "service-account"])
def test_trusted_principals_may_set_modes_and_opt_out(user: Any) -> None:
    old = namespace(**{"istio-injection": "enabled"})
    new = namespace(**{MODE: "off", "istio.io/dataplane-mode": "none"})
    decision = judge(new, old=old, operation="UPDATE", user=user)
    assert decision.allowed and decision.codes == ()


def test_exempt_namespace_objects_are_not_judged() -> None:
    assert judge(namespace("kube-system", **{MODE: "off"})).allowed


def test_deleting_a_namespace_is_not_judged() -> None:
    assert judge(None, old=namespace(**{MODE: "warn"}), operation="DELETE").allowed


@pytest.mark.parametrize(
    ("old", "new", "refused"),
    [
        ({"istio.io/rev": "prod"}, {"istio.io/rev": "canary"}, True),
        ({"istio.io/rev": "prod"}, {}, True),
        ({}, {"istio.io/rev": "prod"}, False),
        ({"istio.io/rev": "prod"}, {"istio.io/rev": "prod", "team": "a"}, False),
    ],
)
def test_an_untrusted_change_of_the_revision_is_an_opt_out(
    old: dict[str, str], new: dict[str, str], refused: bool
) -> None:
    decision = judge(namespace(**new), old=namespace(**old), operation="UPDATE")
    assert codes(decision) == (["mesh-opt-out"] if refused else [])
    trusted = judge(namespace(**new), old=namespace(**old), operation="UPDATE", user=SECURITY_ADMIN)
    assert trusted.allowed
