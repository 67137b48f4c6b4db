"""NetworkPolicies, Services, Endpoints and EndpointSlices, judged by the engine."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from tests.engine.infra_policy import NOW, SECURITY_ADMIN, example_policy, judge, request
from webhook.engine import evaluate
from webhook.model.decision import Decision

MANAGED = {"app.kubernetes.io/managed-by": "egressguard"}


def paths(decision: Decision) -> dict[str, str]:
    return {v.path: v.code.value for v in decision.violations}


def network_policy(
    namespace: str = "shop", labels: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "np", "namespace": namespace, "resourceVersion": "1"}
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": metadata, "spec": {"podSelector": {}, **spec}}


class TestEgressRules:
    @pytest.mark.parametrize(
        ("rule", "path"),
        [
            ({}, "spec.egress[0].to"),
            ({"to": []}, "spec.egress[0].to"),
            ({"to": None}, "spec.egress[0].to"),
            ({"to": [{}]}, "spec.egress[0].to[0]"),
            ({"to": [{"ipBlock": {"cidr": "8.8.8.8/32"}}]}, "spec.egress[0].to[0].ipBlock.cidr"),
            ({"to": [{"ipBlock": {"cidr": "10.0.0.0/7"}}]}, "spec.egress[0].to[0].ipBlock.cidr"),
            ({"to": [{"ipBlock": {"cidr": "fe80::/10"}}]}, "spec.egress[0].to[0].ipBlock.cidr"),
            ({"to": [{"ipBlock": {}}]}, "spec.egress[0].to[0].ipBlock.cidr"),
            ({"to": [{"ipBlock": {"cidr": "not-a-cidr"}}]}, "spec.egress[0].to[0].ipBlock.cidr"),
        ],
    )
    def test_open_egress_is_refused_at_its_path(self, rule: dict[str, Any], path: str) -> None:
        decision = judge(network_policy(policyTypes=["Egress"], egress=[rule]))
        assert paths(decision) == {path: "netpol-open-egress"}

    def test_egress_rules_are_judged_whatever_policy_types_says(self) -> None:
        decision = judge(network_policy(policyTypes=["Ingress"], egress=[{}]))
        assert decision.codes == ("netpol-open-egress",)

    @pytest.mark.parametrize(
        "peer",
        [
            {"podSelector": {}},
            {"namespaceSelector": {}},
            {"ipBlock": {"cidr": "172.16.0.0/12", "except": ["172.16.1.0/24"]}},
            {"ipBlock": {"cidr": "fd12:3456::/32"}},
            {"ipBlock": {"cidr": "100.64.0.0/16"}},
            {"ipBlock": {"cidr": "127.0.0.1/32"}},
            # An internal range of the example Config (network.internalRanges): an IPv6 VPC.
            {"ipBlock": {"cidr": "2600:1f18:4c2b:8a00::/64"}},
        ],
    )
    def test_peers_inside_the_cluster_and_private_ranges(self, peer: dict[str, Any]) -> None:
        assert judge(network_policy(policyTypes=["Egress"], egress=[{"to": [peer]}])).allowed

    @pytest.mark.parametrize(
        "cidr",
        ["fd00::/8", "fd00:ec2::254/128", "100.64.0.0/10", "100.100.100.200/32",
         "169.254.169.254/32", "2600:1f18:4c2b::/48"],
    )
    def test_ranges_reaching_cloud_metadata_or_beyond_the_configured_ones(
        self, cidr: str
    ) -> None:
        decision = judge(network_policy(egress=[{"to": [{"ipBlock": {"cidr": cidr}}]}]))
        assert decision.codes == ("netpol-open-egress",)

    def test_trusted_user_may_open_egress(self) -> None:
        decision = judge(network_policy(egress=[{}]), user=SECURITY_ADMIN)
        assert decision.allowed and decision.codes == ()


class TestChanges:
    def test_unchanged_rules_in_a_gateway_namespace_are_not_a_change(self) -> None:
        old = network_policy("istio-egress", policyTypes=["Ingress"])
        new = copy.deepcopy(old)
        new["metadata"].update(resourceVersion="2", annotations={"note": "x"},
                               managedFields=[{"manager": "kubectl"}], finalizers=["a/b"])
        assert judge(new, old=old, operation="UPDATE").allowed

    @pytest.mark.parametrize(
        "change",
        [
            lambda np: np["spec"].update(podSelector={"matchLabels": {"a": "b"}}),
            lambda np: np["metadata"].update(labels={"team": "x"}),
            lambda np: np["metadata"].update(ownerReferences=[{"kind": "Job", "name": "j"}]),
        ],
        ids=["spec", "labels", "ownerReferences"],
    )
    def test_changes_in_a_gateway_namespace(self, change: Any) -> None:
        old = network_policy("payments-egress", policyTypes=["Ingress"])
        new = copy.deepcopy(old)
        change(new)
        decision = judge(new, old=old, operation="UPDATE")
        assert paths(decision) == {"metadata.namespace": "netpol-open-egress"}

    def test_delete_in_a_gateway_namespace(self) -> None:
        old = network_policy("istio-egress", policyTypes=["Ingress"])
        decision = judge(None, old=old, operation="DELETE")
        assert decision.codes == ("netpol-open-egress",)
        assert "deleting" in decision.messages[0]

    def test_delete_of_a_managed_policy_anywhere(self) -> None:
        old = network_policy(labels=MANAGED, policyTypes=["Egress"])
        decision = judge(None, old=old, operation="DELETE")
        assert paths(decision) == {
            'metadata.labels["app.kubernetes.io/managed-by"]': "netpol-open-egress"}

    def test_delete_of_a_managed_policy_in_a_gateway_namespace_gives_both_reasons(self) -> None:
        old = network_policy("istio-egress", labels=MANAGED)
        assert len(judge(None, old=old, operation="DELETE").violations) == 2

    def test_delete_without_old_object_cannot_prove_the_policy_unmanaged(self) -> None:
        deleted = request(None, old=network_policy(), operation="DELETE")
        blind = dataclasses.replace(deleted, old_object=None)
        decision = evaluate(blind, example_policy(), now=NOW, namespace_labels={})
        assert decision.codes == ("netpol-open-egress",)

    def test_delete_of_an_open_policy_is_not_refused_for_its_rules(self) -> None:
        old = network_policy(policyTypes=["Egress"], egress=[{}])
        assert judge(None, old=old, operation="DELETE").allowed

    def test_managed_label_added_by_a_developer_is_not_a_managed_policy_yet(self) -> None:
        old = network_policy(policyTypes=["Egress"])
        new = network_policy(labels=MANAGED, policyTypes=["Egress"])
        assert judge(new, old=old, operation="UPDATE").allowed

    def test_update_opening_egress_on_an_ordinary_policy(self) -> None:
        old = network_policy(policyTypes=["Egress"], egress=[{"to": [{"podSelector": {}}]}])
        new = network_policy(policyTypes=["Egress"], egress=[{"to": [{"podSelector": {}}]}, {}])
        assert paths(judge(new, old=old, operation="UPDATE")) == {
            "spec.egress[1].to": "netpol-open-egress"}

    def test_security_admin_may_replace_the_gateway_fence(self) -> None:
        old = network_policy("istio-egress", labels=MANAGED)
        assert judge(None, old=old, operation="DELETE", user=SECURITY_ADMIN).allowed


# -- Service, Endpoints, EndpointSlice ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "allowed"),
    [("ExternalName", False), ("externalname", False), ("ClusterIP", True),
     ("LoadBalancer", True), (None, True), (["ExternalName"], True)],
)
def test_service_type(kind: Any, allowed: bool) -> None:
    spec: dict[str, Any] = {"externalName": "api.example.com"}
    if kind is not None:
        spec["type"] = kind
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "s", "namespace": "shop"}, "spec": spec}
    decision = judge(service)
    assert decision.allowed is allowed
    if not allowed:
        assert paths(decision) == {"spec.type": "externalname-service"}


def service(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "s", "namespace": "shop"}, "spec": spec}


@pytest.mark.parametrize(
    ("target", "allowed"),
    [("ratings", True), ("ratings.bookinfo.svc", True),
     ("Ratings.Bookinfo.SVC.cluster.local.", True), ("ratings.bookinfo", False),
     ("ratings.bookinfo.svc.cluster.local.evil.example", False),
     ("ratings.bookinfo.svc.other.domain", False), ("", False), (None, False), (["x"], False)],
)
def test_external_name_to_a_cluster_local_name(target: Any, allowed: bool) -> None:
    assert judge(service(type="ExternalName", externalName=target)).allowed is allowed


def test_external_name_local_under_the_configured_cluster_domain() -> None:
    policy = example_policy()
    policy = dataclasses.replace(
        policy, config=dataclasses.replace(policy.config, cluster_domain="corp.internal"))
    obj = service(type="ExternalName", externalName="ratings.bookinfo.svc.corp.internal")
    decision = evaluate(request(obj), policy, now=NOW, namespace_labels={})
    assert decision.allowed
    obj = service(type="ExternalName", externalName="ratings.bookinfo.svc.cluster.local")
    assert not evaluate(request(obj), policy, now=NOW, namespace_labels={}).allowed


class TestExternalIPs:
    def test_each_outside_address_is_reported_at_its_path(self) -> None:
        decision = judge(service(externalIPs=[
            "10.0.0.9", "8.8.8.8", "fd00:ec2::254", "100.100.100.200", None, "not-an-ip"]),
            user=SECURITY_ADMIN)
        assert paths(decision) == {f"spec.externalIPs[{i}]": "external-ip" for i in (1, 2, 3, 4, 5)}

    def test_internal_and_configured_ranges_are_fine_from_a_trusted_principal(self) -> None:
        assert judge(service(externalIPs=["192.168.4.4", "127.0.0.1",
                                          "2600:1f18:4c2b:8a00::1"]), user=SECURITY_ADMIN).allowed

    def test_an_internal_address_from_a_team_may_be_anyones(self) -> None:
        decision = judge(service(externalIPs=["10.0.0.2", "2600:1f18:4c2b:8a00::1"]))
        assert paths(decision) == {f"spec.externalIPs[{i}]": "external-ip" for i in (0, 1)}
        assert "resolver the cluster DNS asks" in decision.violations[0].message

    def test_applies_to_trusted_principals_too(self) -> None:
        assert judge(service(externalIPs=["1.1.1.1"]), user=SECURITY_ADMIN).codes == (
            "external-ip",)

    def test_update_to_another_public_address_is_new(self) -> None:
        old = service(externalIPs=["1.1.1.1"])
        assert judge(service(externalIPs=["1.1.1.1"]), old=old, operation="UPDATE").allowed
        decision = judge(service(externalIPs=["1.1.1.2"]), old=old, operation="UPDATE")
        assert decision.codes == ("external-ip",)


def test_endpoints_report_each_outside_address() -> None:
    endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": "e", "namespace": "shop"},
                 "subsets": [
                     {"addresses": [{"ip": "10.0.0.1"}, {"ip": "1.1.1.1"}]},
                     {"notReadyAddresses": [{"ip": "fe80::1"}, {"hostname": "x"}]},
                 ]}
    assert paths(judge(endpoints)) == {
        "subsets[0].addresses[1].ip": "external-endpoint",
        "subsets[1].notReadyAddresses[0].ip": "external-endpoint",
        "subsets[1].notReadyAddresses[1].ip": "external-endpoint",
    }


@pytest.mark.parametrize(
    ("address_type", "addresses", "allowed"),
    [
        ("IPv4", ["10.1.1.1", "192.168.0.9"], True),
        ("IPv6", ["fc00::1"], True),
        ("IPv4", ["10.1.1.1", "203.0.113.1"], False),
        ("FQDN", ["cache.shop.svc.cluster.local"], False),
        (None, ["example.com"], False),
        ("IPv4", [None], False),
    ],
)
def test_endpoint_slice(address_type: Any, addresses: list[Any], allowed: bool) -> None:
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": "s", "namespace": "shop"},
              "addressType": address_type, "endpoints": [{"addresses": addresses}]}
    decision = judge(slice_)
    assert decision.allowed is allowed
    assert decision.codes == (() if allowed else ("external-endpoint",))
