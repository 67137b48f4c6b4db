"""gateway-config: what reaches the egress gateways from outside their rules.

The readable cases live in tests/cases/gateway-config; these pin down name resolution,
selectors, targetRefs and the Gateway API details.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.engine.infra_policy import SECURITY_ADMIN, judge
from webhook.engine.gateways import ISTIO_CLASSES, gateway_namespace
from webhook.model.decision import Decision


def paths(decision: Decision) -> dict[str, str]:
    return {v.path: v.code.value for v in decision.violations}


def obj(api_version: str, kind: str, namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": "x", "namespace": namespace}, "spec": spec}


@pytest.mark.parametrize(
    ("name", "namespace"),
    [
        ("gw", "shop"),
        ("./gw", "shop"),
        ("istio-egress/gw", "istio-egress"),
        ("gw.istio-egress", "istio-egress"),
        ("gw.istio-egress.svc.cluster.local", "istio-egress"),
        ("*/gw", "*"),
    ],
)
def test_gateway_names_resolve_as_istio_resolves_them(name: str, namespace: str) -> None:
    assert gateway_namespace(name, "shop") == namespace


class TestIstioGateway:
    @pytest.mark.parametrize(
        ("selector", "gateways"),
        [
            ({"istio": "egressgateway"}, {"istio-egressgateway"}),
            ({"istio": "egressgateway", "team": "shop"}, {"istio-egressgateway"}),
            ({"app": "anything"}, {"istio-egressgateway", "payments-egressgateway"}),
            ({}, {"istio-egressgateway", "payments-egressgateway"}),
            ({"istio": "ingressgateway"}, set()),
        ],
    )
    def test_a_selector_that_does_not_contradict_reaches_the_gateway(
        self, selector: dict[str, str], gateways: set[str]
    ) -> None:
        decision = judge(obj("networking.istio.io/v1", "Gateway", selector=selector))
        assert {v.value.split("@")[0] for v in decision.violations} == gateways
        assert all(v.code.value == "gateway-config" for v in decision.violations)

    def test_the_message_names_the_gateway_and_the_key_to_contradict(self) -> None:
        decision = judge(obj("networking.istio.io/v1", "Gateway",
                             selector={"istio": "egressgateway"}))
        (message,) = decision.messages
        assert "istio-egress/istio-egressgateway" in message
        assert "set istio to a value other than egressgateway" in message

    def test_a_non_string_selector_value_contradicts_nothing(self) -> None:
        decision = judge(obj("networking.istio.io/v1", "Gateway", selector={"istio": 1}))
        assert len(decision.violations) == 2

    def test_the_security_team_configures_the_gateways(self) -> None:
        decision = judge(obj("networking.istio.io/v1", "Gateway", "istio-egress",
                             selector={"istio": "egressgateway"}), user=SECURITY_ADMIN)
        assert decision.allowed and decision.codes == ()


class TestVirtualServiceBinding:
    @pytest.mark.parametrize(
        "gateways",
        [["istio-egress/stripe"], ["mesh", "payments-egress/stripe"],
         ["stripe.payments-egress"], [""], [7]],
    )
    def test_bindings_into_a_gateway_namespace_or_unreadable(self, gateways: list[Any]) -> None:
        vs = obj("networking.istio.io/v1", "VirtualService", hosts=["checkout"],
                 gateways=gateways)
        assert "gateway-config" in judge(vs).codes

    def test_a_bare_name_in_a_gateway_namespace_binds_there(self) -> None:
        vs = obj("networking.istio.io/v1", "VirtualService", "istio-egress",
                 hosts=["checkout.shop.svc.cluster.local"], gateways=["stripe"])
        assert paths(judge(vs)) == {"spec.gateways[0]": "gateway-config"}

    @pytest.mark.parametrize("section", ["http", "tls", "tcp"])
    def test_match_level_gateways_bind_too(self, section: str) -> None:
        vs = obj("networking.istio.io/v1", "VirtualService", hosts=["checkout"],
                 **{section: [{"match": [{"gateways": ["istio-egress/x"]}],
                               "route": [{"destination": {"host": "checkout"}}]}]})
        assert paths(judge(vs)) == {f"spec.{section}[0].match[0].gateways[0]": "gateway-config"}


class TestSecurityPolicies:
    @pytest.mark.parametrize("kind", ["AuthorizationPolicy", "RequestAuthentication"])
    @pytest.mark.parametrize("namespace", ["istio-egress", "payments-egress", "istio-system"])
    def test_in_a_gateway_or_the_root_namespace(self, kind: str, namespace: str) -> None:
        decision = judge(obj("security.istio.io/v1", kind, namespace))
        assert paths(decision) == {"metadata.namespace": "gateway-config"}

    @pytest.mark.parametrize("field", ["targetRefs", "target_refs"])
    def test_target_refs_into_a_gateway_namespace(self, field: str) -> None:
        ref = {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "w",
               "namespace": "istio-egress"}
        decision = judge(obj("security.istio.io/v1", "AuthorizationPolicy", **{field: [ref]}))
        assert paths(decision) == {"spec.targetRefs[0]": "gateway-config"}

    def test_the_singular_target_ref_too(self) -> None:
        ref = {"kind": "Service", "name": "w", "namespace": "payments-egress"}
        decision = judge(obj("security.istio.io/v1", "AuthorizationPolicy", targetRef=ref))
        assert paths(decision) == {"spec.targetRef": "gateway-config"}

    def test_an_update_changing_a_policy_already_in_a_gateway_namespace_is_refused(self) -> None:
        old = obj("security.istio.io/v1", "AuthorizationPolicy", "istio-egress", action="DENY",
                  rules=[{"from": [{"source": {"namespaces": ["shop"]}}]}])
        relabelled = copy.deepcopy(old)
        relabelled["metadata"]["labels"] = {"team": "platform"}
        kept = judge(relabelled, old=old, operation="UPDATE")
        assert kept.allowed and kept.warnings
        opened = copy.deepcopy(old)
        opened["spec"] = {"action": "ALLOW", "rules": [{}]}
        assert judge(opened, old=old, operation="UPDATE").codes == ("gateway-config",)

    def test_a_policy_in_the_teams_namespace_is_its_own(self) -> None:
        ref = {"kind": "Service", "name": "checkout"}
        decision = judge(obj("security.istio.io/v1", "AuthorizationPolicy", targetRefs=[ref],
                             action="DENY", rules=[{}]))
        assert decision.allowed


class TestProxyExtensions:
    @pytest.mark.parametrize("kind", ["WasmPlugin", "TrafficExtension"])
    @pytest.mark.parametrize("target", ["Service", "ServiceEntry"])
    def test_targeting_a_waypoint_service_in_a_gateway_namespace(
        self, kind: str, target: str
    ) -> None:
        ref = {"kind": target, "name": "github"}
        decision = judge(obj("extensions.istio.io/v1alpha1", kind, "istio-egress",
                             targetRefs=[ref]))
        assert paths(decision) == {"spec.targetRefs[0]": "gateway-config"}

    def test_gateway_targets_stay_envoyfilter_gateway(self) -> None:
        ref = {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "w"}
        decision = judge(obj("extensions.istio.io/v1alpha1", "WasmPlugin", "istio-egress",
                             targetRefs=[ref]))
        assert decision.codes == ("envoyfilter-gateway",)


class TestGatewayApi:
    @pytest.mark.parametrize("name", sorted(ISTIO_CLASSES))
    def test_every_istio_class_is_refused(self, name: str) -> None:
        gateway = obj("gateway.networking.k8s.io/v1", "Gateway", gatewayClassName=name)
        assert paths(judge(gateway)) == {"spec.gatewayClassName": "gateway-config"}

    @pytest.mark.parametrize("name", [None, 3])
    def test_an_unreadable_class_is_judged_istios(self, name: Any) -> None:
        gateway = obj("gateway.networking.k8s.io/v1", "Gateway", gatewayClassName=name)
        assert judge(gateway).codes == ("gateway-config",)

    @pytest.mark.parametrize("kind", ["HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"])
    def test_every_route_kind_is_judged_by_its_parents(self, kind: str) -> None:
        route = obj("gateway.networking.k8s.io/v1", kind,
                    parentRefs=[{"name": "ok"}, {"name": "w", "namespace": "payments-egress"}])
        assert paths(judge(route)) == {"spec.parentRefs[1]": "gateway-config"}

    def test_a_route_in_a_gateway_namespace_attaches_there_by_default(self) -> None:
        route = obj("gateway.networking.k8s.io/v1", "HTTPRoute", "istio-egress",
                    parentRefs=[{"name": "istio-egressgateway"}])
        assert "Gateway istio-egress/istio-egressgateway" in judge(route).messages[0]
