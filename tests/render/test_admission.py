"""What render writes, judged by the engine: admitted for the security team in every mode, and
refused for a developer wherever it touches the gateways (tests/e2e/test_rendered_dataplane.py
does the same through a real API server for the fence and EnvoyFilters)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.engine.infra_policy import DEVELOPER, SECURITY_ADMIN, request
from tests.example_policy import GOLDEN_NOW, example_policy
from webhook.engine import evaluate
from webhook.model.decision import Decision
from webhook.model.review import UserInfo
from webhook.render import RenderMode, RenderOptions, render

Doc = dict[str, Any]
GATEWAY_NAMESPACES = example_policy().config.gateway_namespaces
EXEMPT = example_policy().config.exempt_namespaces
# What a developer's CREATE of each rendered kind that reaches a gateway is refused with.
REFUSED_FOR_DEVELOPER = {
    "AuthorizationPolicy": {"gateway-config"},
    "Gateway": {"gateway-config"},
    "ServiceEntry": {"egress-route"},
    "VirtualService": {"egress-route", "gateway-config"},
    "EnvoyFilter": {"envoyfilter-gateway"},
    "TrafficExtension": {"gateway-config"},
}


def documents(mode: RenderMode) -> list[Doc]:
    result = render(example_policy(), mode, RenderOptions(now=GOLDEN_NOW))
    return [doc for f in result.files for doc in f.documents]


def judge(doc: Doc | None, user: UserInfo, *, old: Doc | None = None,
          operation: str = "CREATE") -> Decision:
    return evaluate(request(doc, old=old, operation=operation, user=user), example_policy(),
                    now=GOLDEN_NOW, namespace_labels={})


def expected_refusal(doc: Doc) -> set[str]:
    """The codes a developer's CREATE of ``doc`` must carry; empty when it may be created."""
    kind, namespace = doc["kind"], doc["metadata"].get("namespace")
    if kind == "NetworkPolicy":
        return {"netpol-open-egress"} if namespace in GATEWAY_NAMESPACES else set()
    if kind == "DestinationRule":
        # TLS origination names the external host; the rule for the gateway's own Service
        # (cluster-local) sets only how sidecars reach the gateway.
        host = doc["spec"]["host"]
        return set() if host.endswith(".svc.cluster.local") else {"egress-route"}
    return REFUSED_FOR_DEVELOPER.get(kind, set())


@pytest.mark.parametrize("mode", list(RenderMode), ids=str)
def test_everything_rendered_is_admitted_for_the_security_team(mode: RenderMode) -> None:
    for doc in documents(mode):
        decision = judge(doc, SECURITY_ADMIN)
        assert decision.allowed and decision.codes == (), (doc["kind"], doc["metadata"])


@pytest.mark.parametrize("mode", list(RenderMode), ids=str)
def test_what_touches_a_gateway_is_refused_for_a_developer(mode: RenderMode) -> None:
    refused = 0
    for doc in documents(mode):
        decision = judge(doc, DEVELOPER)
        expected = expected_refusal(doc)
        where = (doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"])
        if expected:
            refused += 1
            assert not decision.allowed and expected <= set(decision.codes), where
        else:
            assert decision.allowed, (where, decision.messages)
    assert refused, "nothing rendered reaches a gateway"


@pytest.mark.parametrize("mode", list(RenderMode), ids=str)
def test_no_rendered_object_is_changed_or_deleted_by_a_developer(mode: RenderMode) -> None:
    for doc in documents(mode):
        if doc["metadata"].get("namespace") in EXEMPT:
            continue  # the API server never sends these
        changed = copy.deepcopy(doc)
        changed["metadata"].setdefault("annotations", {})["istio.io/dry-run"] = "true"
        where = (doc["kind"], doc["metadata"]["name"])
        for decision in (judge(None, DEVELOPER, old=doc, operation="DELETE"),
                         judge(changed, DEVELOPER, old=doc, operation="UPDATE")):
            assert not decision.allowed, where
            assert set(decision.codes) & {"managed-object", "netpol-open-egress"}, where
