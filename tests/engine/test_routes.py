"""egress-route for VirtualServices, DestinationRules and Gateway API routes.

The readable cases live in tests/cases/egress-route; these pin down which fields are routes,
when a VirtualService's hosts count, and the messages.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.infra_policy import SECURITY_ADMIN, judge
from webhook.model.decision import Decision


def paths(decision: Decision) -> dict[str, str]:
    return {v.path: v.code.value for v in decision.violations}


def virtual_service(namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "vs", "namespace": namespace}, "spec": spec}


def to(host: Any) -> dict[str, Any]:
    return {"destination": {"host": host, "port": {"number": 443}}}


@pytest.mark.parametrize(
    ("gateways", "hosts_judged"),
    [(None, True), ([], True), (["mesh"], True), (["mesh", "ingress"], True),
     (["ingress"], False), (["istio-system/ingress"], False)],
)
def test_hosts_are_routes_only_where_the_service_applies_to_sidecars(
    gateways: list[str] | None, hosts_judged: bool
) -> None:
    spec: dict[str, Any] = {"hosts": ["api.stripe.com"], "http": [{"route": [to("checkout")]}]}
    if gateways is not None:
        spec["gateways"] = gateways
    assert ("spec.hosts[0]" in paths(judge(virtual_service(**spec)))) is hosts_judged


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"http": [{"route": [to("checkout"), to("x.example")]}]},
         "spec.http[0].route[1].destination.host"),
        ({"tls": [{"route": [to("x.example")]}]}, "spec.tls[0].route[0].destination.host"),
        ({"tcp": [{"route": [to("x.example")]}]}, "spec.tcp[0].route[0].destination.host"),
        ({"http": [{"route": [to("checkout")], "mirror": {"host": "x.example"}}]},
         "spec.http[0].mirror.host"),
        ({"http": [{"route": [to("checkout")], "mirrors": [to("x.example")]}]},
         "spec.http[0].mirrors[0].destination.host"),
        ({"http": [{"route": [to(None)]}]}, "spec.http[0].route[0].destination.host"),
    ],
)
def test_every_destination_is_judged_wherever_bound(rule: dict[str, Any], path: str) -> None:
    decision = judge(virtual_service(hosts=["checkout"], gateways=["ingress"], **rule))
    assert paths(decision) == {path: "egress-route"}


def test_a_covered_destination_names_its_destination_and_grant_file() -> None:
    decision = judge(virtual_service(hosts=["checkout"], tls=[{"route": [to("github.com")]}],
                                     namespace="ci"))
    (message,) = decision.messages
    assert "Destination github" in message
    assert "services/ci/<serviceaccount>/github.com:443.rule" in message


def test_a_wildcard_spanning_a_destination_says_so() -> None:
    decision = judge(virtual_service(hosts=["*.com"]))
    assert "takes over the hosts of Destination" in decision.messages[0]


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("reviews", True), ("reviews.shop.svc.cluster.local", True), ("github.com", False),
     ("*.local", False), ("", False), (None, False)],
)
def test_destination_rule_host(host: Any, allowed: bool) -> None:
    rule = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "dr", "namespace": "shop"}, "spec": {"host": host}}
    decision = judge(rule)
    assert decision.allowed is allowed
    assert decision.codes == (() if allowed else ("egress-route",))


def test_an_update_keeping_a_route_is_warned_and_a_new_one_refused() -> None:
    old = virtual_service(hosts=["checkout"], tls=[{"route": [to("github.com")]}])
    same = judge(virtual_service(hosts=["checkout"], tls=[{"route": [to("github.com")]}],
                                 exportTo=["."]), old=old, operation="UPDATE")
    assert same.allowed and same.warnings
    other = judge(virtual_service(hosts=["checkout"], tls=[{"route": [to("api.stripe.com")]}]),
                  old=old, operation="UPDATE")
    assert not other.allowed


def test_the_security_team_writes_the_routes() -> None:
    decision = judge(virtual_service("payments-egress", hosts=["api.stripe.com"],
                                     gateways=["mesh", "payments-egress/stripe"],
                                     tcp=[{"route": [to("api.stripe.com")]}]),
                     user=SECURITY_ADMIN)
    assert decision.allowed and decision.codes == ()


@pytest.mark.parametrize(
    ("ref", "judged"),
    [
        ({"group": "networking.istio.io", "kind": "Hostname", "name": "api.stripe.com"}, True),
        ({"group": "networking.istio.io", "kind": "Hostname", "name": "db.shop.svc"}, False),
        ({"kind": "Service", "name": "checkout"}, False),
    ],
)
def test_gateway_api_hostname_backends(ref: dict[str, Any], judged: bool) -> None:
    mirror = {"type": "RequestMirror", "requestMirror": {"backendRef": ref}}
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "r", "namespace": "shop"},
             "spec": {"parentRefs": [{"kind": "Service", "group": "", "name": "checkout"}],
                      "rules": [{"backendRefs": [ref], "filters": [mirror]}]}}
    expected = {
        "spec.rules[0].backendRefs[0].name": "egress-route",
        "spec.rules[0].filters[0].requestMirror.backendRef.name": "egress-route",
    }
    assert paths(judge(route)) == (expected if judged else {})
