"""What the controller wants in the cluster, and when that changes by itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from tests.example_policy import NOW, example_policy
from webhook.controller.desired import (
    FIELD_MANAGER,
    ObjectKey,
    desired_objects,
    judged_namespaces,
    key_of,
    lapses_at,
    next_expiry,
    owned_by_us,
    stale,
)
from webhook.controller.kinds import MANAGED_KINDS, managed_kind
from webhook.model.rules import Grant
from webhook.render import RenderMode, RenderOptions
from webhook.render.plan import FenceKind


def test_every_kind_render_writes_in_any_mode_or_fence_is_managed_and_nothing_else() -> None:
    written = set()
    for mode in RenderMode:
        for fence in FenceKind:
            options = RenderOptions(now=NOW, fence=fence)
            for key in desired_objects(example_policy(), mode, options, ["team-a"]):
                written.add((key.api_version, key.kind))
    assert written == {(kind.api_version, kind.kind) for kind in MANAGED_KINDS}


def test_a_kind_render_cannot_write_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="add it to MANAGED_KINDS"):
        managed_kind("v1", "Secret")


def test_every_judged_namespace_gets_a_fence_even_without_grants() -> None:
    policy = example_policy()
    namespaces = judged_namespaces(policy, ["kube-system", "no-grants", "egressguard-system"])
    assert namespaces == ("no-grants",)
    objects = desired_objects(policy, RenderMode.ISTIO_SIDECAR, RenderOptions(now=NOW),
                              namespaces)
    fence = ObjectKey("networking.k8s.io/v1", "NetworkPolicy", "no-grants", "egressguard-fence")
    assert fence in objects
    assert not any(key.namespace == "kube-system" and key.name == "egressguard-fence"
                   for key in objects)


def test_a_grant_lapses_at_the_midnight_after_its_last_day() -> None:
    assert lapses_at(date(2026, 6, 1)) == datetime(2026, 6, 2, tzinfo=UTC)
    grant = Grant(namespace="team-z", service_account="app", destination="stripe",
                  host="api.stripe.com", port=443, expires=date(2026, 6, 3))
    policy = example_policy()
    policy = replace(policy, grants=(*policy.grants, grant))
    first = next_expiry(policy, NOW)
    assert first is not None and NOW < first <= datetime(2026, 6, 4, tzinfo=UTC)
    assert next_expiry(policy, datetime(2100, 1, 1, tzinfo=UTC)) is None


def _existing(name: str, *, manager: str = FIELD_MANAGER, label: bool = True) -> dict[str, object]:
    labels = {"app.kubernetes.io/managed-by": "egressguard"} if label else {}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "shop", "labels": labels,
                         "managedFields": [{"manager": manager, "operation": "Apply"}]}}


def test_only_our_objects_that_the_rules_no_longer_produce_are_pruned() -> None:
    kept = _existing("kept")
    gone = _existing("gone")
    theirs = _existing("theirs", manager="kubectl")
    unlabelled = _existing("unlabelled", label=False)
    desired = {key_of(kept): kept}
    assert stale([kept, gone, theirs, unlabelled], desired) == [key_of(gone)]
    assert not owned_by_us(theirs) and not owned_by_us(unlabelled)
