"""Cilium, Calico and Admin/Cluster NetworkPolicies, judged by the engine.

The readable cases live in tests/cases/{cilium,calico,admin-network-policy}; these tests pin
down paths, Cilium's selector rules, malformed values, UPDATE, DELETE and trusted principals.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.infra_policy import SECURITY_ADMIN, judge
from webhook.engine.kinds import handler_for
from webhook.model.decision import Decision

MANAGED = {"app.kubernetes.io/managed-by": "egressguard"}


def paths(decision: Decision) -> dict[str, str]:
    return {v.path: v.code.value for v in decision.violations}


def cilium(*egress: Any, clusterwide: bool = False, **spec: Any) -> dict[str, Any]:
    kind = "CiliumClusterwideNetworkPolicy" if clusterwide else "CiliumNetworkPolicy"
    metadata: dict[str, Any] = {"name": "p"} if clusterwide else {"name": "p", "namespace": "shop"}
    return {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": metadata,
            "spec": {"endpointSelector": {}, "egress": list(egress), **spec}}


def calico(*egress: Any, kind: str = "NetworkPolicy") -> dict[str, Any]:
    metadata = {"name": "p", "namespace": "shop"} if kind == "NetworkPolicy" else {"name": "p"}
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": kind, "metadata": metadata,
            "spec": {"selector": "all()", "types": ["Egress"], "egress": list(egress)}}


def admin(
    *egress: Any, kind: str = "AdminNetworkPolicy", version: str = "v1alpha1"
) -> dict[str, Any]:
    return {"apiVersion": f"policy.networking.k8s.io/{version}", "kind": kind,
            "metadata": {"name": "p"},
            "spec": {"priority": 1, "subject": {"namespaces": {}}, "egress": list(egress)}}


@pytest.mark.parametrize(
    ("group", "kind"),
    [("cilium.io", "CiliumNetworkPolicy"), ("cilium.io", "CiliumClusterwideNetworkPolicy"),
     ("crd.projectcalico.org", "NetworkPolicy"), ("crd.projectcalico.org", "GlobalNetworkPolicy"),
     ("crd.projectcalico.org", "NetworkSet"), ("crd.projectcalico.org", "GlobalNetworkSet"),
     ("policy.networking.k8s.io", "AdminNetworkPolicy"),
     ("policy.networking.k8s.io", "BaselineAdminNetworkPolicy"),
     ("policy.networking.k8s.io", "ClusterNetworkPolicy")],
)
def test_every_kind_is_judged(group: str, kind: str) -> None:
    assert handler_for(group, kind) is not None


# -- Cilium ------------------------------------------------------------------------------


class TestCiliumRules:
    @pytest.mark.parametrize(
        ("rule", "path"),
        [
            ({"toEntities": ["cluster", "world-ipv6"]}, "spec.egress[0].toEntities[1]"),
            ({"toEntities": ["World"]}, "spec.egress[0].toEntities[0]"),
            ({"toEntities": [{"x": 1}]}, "spec.egress[0].toEntities[0]"),
            ({"toCIDR": ["10.0.0.0/8", "1.1.1.1"]}, "spec.egress[0].toCIDR[1]"),
            ({"toCIDRSet": [{"cidr": "0.0.0.0/0", "except": ["0.0.0.0/1"]}]},
             "spec.egress[0].toCIDRSet[0].cidr"),
            ({"toCIDRSet": [{"cidrGroupSelector": {}}]}, "spec.egress[0].toCIDRSet[0]"),
            ({"toGroups": [{"aws": {"securityGroupsIds": ["sg-1"]}}]}, "spec.egress[0].toGroups"),
            ({"toFQDNs": [{"matchPattern": "*"}]}, "spec.egress[0].toFQDNs"),
            ({"icmps": [{"fields": [{"type": 8}]}]}, "spec.egress[0]"),
            ({"toRequires": [{}], "toPorts": [{"ports": [{"port": "80"}]}]}, "spec.egress[0]"),
        ],
    )
    def test_open_rules_are_refused_at_their_path(self, rule: dict[str, Any], path: str) -> None:
        assert paths(judge(cilium(rule))) == {path: "netpol-open-egress"}

    @pytest.mark.parametrize(
        "rule",
        [
            {},
            {"toEndpoints": [], "toPorts": [{"ports": [{"port": "443"}]}]},  # selects nothing
            {"toServices": [{"k8sService": {"serviceName": "db", "namespace": "shop"}}]},
            {"toNodes": [{}], "toPorts": [{"ports": [{"port": "10250"}]}]},
            {"toEntities": ["host", "remote-node", "kube-apiserver", "cluster-mesh"]},
            {"toCIDRSet": [{"cidr": "fc00::/7", "except": ["fd00:ec2::/64"]}]},
        ],
    )
    def test_rules_inside_the_cluster(self, rule: dict[str, Any]) -> None:
        assert judge(cilium(rule)).allowed

    def test_egress_deny_never_opens(self) -> None:
        obj = cilium(egressDeny=[{"toEntities": ["world"]}, {"toPorts": [{"ports": [{}]}]}])
        assert judge(obj).allowed

    def test_specs_are_judged_at_their_index(self) -> None:
        obj = cilium()
        obj["specs"] = [{"egress": [{}]}, {"egress": [{"toEntities": ["all"]}]}]
        assert paths(judge(obj)) == {"specs[1].egress[0].toEntities[0]": "netpol-open-egress"}

    def test_trusted_principal_may_open_egress(self) -> None:
        assert judge(cilium({"toEntities": ["world"]}), user=SECURITY_ADMIN).allowed

    def test_update_widening_a_cidr_is_new(self) -> None:
        old = cilium({"toCIDR": ["1.1.1.1/32"]})
        assert judge(cilium({"toCIDR": ["1.1.1.1/32"]}), old=old, operation="UPDATE").allowed
        new = cilium({"toCIDR": ["0.0.0.0/0"]})
        assert judge(new, old=old, operation="UPDATE").codes == ("netpol-open-egress",)

    def test_delete_of_a_managed_clusterwide_policy(self) -> None:
        old = cilium(clusterwide=True)
        old["metadata"]["labels"] = dict(MANAGED)
        decision = judge(None, old=old, operation="DELETE")
        assert decision.codes == ("netpol-open-egress",)
        assert "CiliumClusterwideNetworkPolicy" in decision.messages[0]


class TestCiliumEndpointSelectors:
    @pytest.mark.parametrize(
        "selector",
        [
            {"matchLabels": {"reserved:world": ""}},
            {"matchLabels": {"$world": ""}},
            {"matchLabels": {"reserved.world-ipv4": ""}},
            {"matchExpressions": [{"key": "reserved:host", "operator": "DoesNotExist"}]},
            # escaping the namespace pin, with nothing only pods carry
            {"matchExpressions": [{"key": "io.kubernetes.pod.namespace",
                                   "operator": "NotIn", "values": ["shop"]}]},
            {"matchExpressions": [{"key": "io.cilium.k8s.namespace.labels.team",
                                   "operator": "DoesNotExist"}]},
            {"matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace",
                                   "operator": "DoesNotExist"}],
             "matchLabels": {"api.stripe.com": ""}},
        ],
    )
    def test_selectors_that_may_select_the_world(self, selector: dict[str, Any]) -> None:
        decision = judge(cilium({"toEndpoints": [selector]}))
        assert paths(decision) == {"spec.egress[0].toEndpoints[0]": "netpol-open-egress"}

    @pytest.mark.parametrize(
        "selector",
        [
            {},
            {"matchLabels": {"app": "db"}},
            {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]},
            {"matchLabels": {"reserved:host": ""}},
            {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system"}},
            {"matchExpressions": [{"key": "io.cilium.k8s.namespace.labels.team",
                                   "operator": "Exists"}]},
            None,
        ],
    )
    def test_selectors_of_pods_and_nodes(self, selector: Any) -> None:
        assert judge(cilium({"toEndpoints": [selector]})).allowed

    def test_clusterwide_selectors_are_pinned_to_pods_unless_for_initializing_pods(self) -> None:
        negated = {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]}
        assert judge(cilium({"toEndpoints": [negated]}, clusterwide=True)).allowed
        init = {"matchLabels": {"reserved:init": ""}}
        obj = cilium({"toEndpoints": [negated]}, clusterwide=True, endpointSelector=init)
        assert judge(obj).codes == ("netpol-open-egress",)


# -- Calico ------------------------------------------------------------------------------


class TestCalico:
    @pytest.mark.parametrize(
        ("rule", "path"),
        [
            ({"action": "Allow"}, "spec.egress[0].destination"),
            ({"action": "pass", "destination": {"ports": [443]}}, "spec.egress[0].destination"),
            ({"action": "Frobnicate"}, "spec.egress[0].destination"),
            ({}, "spec.egress[0].destination"),
            ({"action": "Allow", "destination": {"nets": ["10.0.0.0/8", "8.8.8.8/32"]}},
             "spec.egress[0].destination.nets"),
            ({"action": "Allow", "destination": {"nets": [], "notNets": ["10.0.0.0/8"]}},
             "spec.egress[0].destination.nets"),
            ({"action": "Allow", "destination": {"selector": "all()", "domains": ["x.com"]}},
             "spec.egress[0].destination.domains"),
        ],
    )
    def test_open_rules(self, rule: dict[str, Any], path: str) -> None:
        assert paths(judge(calico(rule))) == {path: "netpol-open-egress"}

    @pytest.mark.parametrize(
        "rule",
        [
            {"action": "Deny"},
            {"action": "Log", "destination": {"nets": ["0.0.0.0/0"]}},
            {"action": "Allow", "destination": {"selector": "app == 'db'"}},
            {"action": "Allow", "destination": {"namespaceSelector": "all()"}},
            {"action": "Allow", "destination": {"serviceAccounts": {"names": ["api"]}}},
            {"action": "Allow", "destination": {"services": {"name": "db"}}},
            {"action": "Allow", "destination": {"notNets": ["0.0.0.0/0", "::/0"]}},
        ],
    )
    def test_closed_or_inside(self, rule: dict[str, Any]) -> None:
        assert judge(calico(rule, kind="GlobalNetworkPolicy")).allowed

    def test_network_sets(self) -> None:
        obj = {"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkSet",
               "metadata": {"name": "s"},
               "spec": {"nets": ["10.0.0.0/8", "1.2.3.0/24"], "allowedEgressDomains": ["a.io"]}}
        assert paths(judge(obj)) == {"spec.nets[1]": "netpol-open-egress",
                                     "spec.allowedEgressDomains": "netpol-open-egress"}
        assert judge(obj, user=SECURITY_ADMIN).allowed


# -- AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy ---------------


class TestAdminPolicies:
    @pytest.mark.parametrize(
        ("rule", "path"),
        [
            ({"action": "Allow", "to": [{"networks": ["10.0.0.0/8", "0.0.0.0/0"]}]},
             "spec.egress[0].to[0].networks[1]"),
            ({"action": "Pass", "to": [{"domainNames": ["*.stripe.com"]}]},
             "spec.egress[0].to[0].domainNames"),
            ({"action": "Allow", "to": []}, "spec.egress[0].to"),
            ({"action": "Allow"}, "spec.egress[0].to"),
            ({"action": "Allow", "to": [{"somethingNew": {}}]}, "spec.egress[0].to[0]"),
        ],
    )
    def test_open_rules(self, rule: dict[str, Any], path: str) -> None:
        assert paths(judge(admin(rule))) == {path: "netpol-open-egress"}

    @pytest.mark.parametrize(("kind", "version"), [
        ("BaselineAdminNetworkPolicy", "v1alpha1"), ("ClusterNetworkPolicy", "v1alpha2"),
        ("ClusterNetworkPolicy", "v1beta1")])
    def test_every_kind_and_version(self, kind: str, version: str) -> None:
        rule = {"action": "Accept", "to": [{"networks": ["100.100.100.200/32"]}]}
        assert judge(admin(rule, kind=kind, version=version)).codes == ("netpol-open-egress",)
        deny = {"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}
        assert judge(admin(deny, kind=kind, version=version)).allowed

    def test_peers_inside_the_cluster(self) -> None:
        rule = {"action": "Allow", "to": [{"namespaces": {}}, {"nodes": {}},
                                          {"pods": {"namespaceSelector": {}, "podSelector": {}}}]}
        assert judge(admin(rule)).allowed


@pytest.mark.parametrize(
    ("selector", "opens"),
    [
        ("global()", True),
        ("global( )", True),
        ("!has(environment)", True),
        ("environment != 'prod'", True),
        ("environment notin {'prod'}", True),
        ("!(team == 'shop')", True),
        ({"matchLabels": {}}, True),
        ("all()", False),
        ("team == 'shop!' && environment in {'not in'}", False),
        ("has(team) || team starts with 'sh'", False),
    ],
)
def test_calico_namespace_selector_matching_global_sets(selector: Any, opens: bool) -> None:
    decision = judge(calico({"action": "Allow", "destination": {"namespaceSelector": selector}}))
    assert paths(decision) == (
        {"spec.egress[0].destination.namespaceSelector": "netpol-open-egress"} if opens else {})


def ingress_policy(kind: str, **spec: Any) -> dict[str, Any]:
    group = {"CiliumClusterwideNetworkPolicy": "cilium.io/v2",
             "GlobalNetworkPolicy": "crd.projectcalico.org/v1"}.get(
        kind, "policy.networking.k8s.io/v1beta1")
    return {"apiVersion": group, "kind": kind, "metadata": {"name": "p"}, "spec": spec}


class TestClusterWideIngress:
    @pytest.mark.parametrize(
        "obj",
        [
            ingress_policy("CiliumClusterwideNetworkPolicy", endpointSelector={},
                           ingress=[{"toPorts": [{"ports": [{"port": "443"}]}]}]),
            ingress_policy("CiliumClusterwideNetworkPolicy", endpointSelector={"matchLabels": {
                "k8s:io.kubernetes.pod.namespace": "payments-egress"}},
                ingress=[{"fromEntities": ["cluster"]}]),
            ingress_policy("GlobalNetworkPolicy", namespaceSelector="team != 'x'",
                           ingress=[{"action": "Pass"}]),
            ingress_policy("GlobalNetworkPolicy",
                           namespaceSelector="kubernetes.io/metadata.name == 'istio-egress'",
                           ingress=[{"action": "Allow"}]),
            ingress_policy("ClusterNetworkPolicy", tier="Admin", subject={"namespaces": {
                "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                      "values": ["shop", "istio-egress"]}]}},
                ingress=[{"action": "Accept", "from": [{"namespaces": {}}]}]),
        ],
    )
    def test_may_reach_a_gateway(self, obj: dict[str, Any]) -> None:
        decision = judge(obj)
        assert decision.codes == ("netpol-open-egress",)
        assert judge(obj, user=SECURITY_ADMIN).allowed

    @pytest.mark.parametrize(
        "obj",
        [
            ingress_policy("CiliumClusterwideNetworkPolicy", endpointSelector={},
                           ingress=[{}]),
            ingress_policy("CiliumClusterwideNetworkPolicy", nodeSelector={},
                           ingress=[{"fromEntities": ["cluster"]}]),
            ingress_policy("CiliumClusterwideNetworkPolicy", endpointSelector={},
                           ingressDeny=[{"fromEntities": ["world"]}]),
            ingress_policy("GlobalNetworkPolicy", ingress=[{"action": "Deny"}]),
            ingress_policy("ClusterNetworkPolicy", tier="Admin", subject={"namespaces": {}},
                           ingress=[{"action": "Deny", "from": [{"namespaces": {}}]}]),
        ],
    )
    def test_closes_or_selects_no_pods(self, obj: dict[str, Any]) -> None:
        assert judge(obj).allowed
