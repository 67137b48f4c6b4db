"""ServiceEntries, WorkloadEntries, Sidecars and EnvoyFilters, judged by the engine.

The readable cases live in tests/cases/{serviceentry,endpoints,envoyfilter,sidecar}; these
tests pin down the finer rules: paths, spellings, numeric enums and UPDATE diffs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.engine.infra_policy import ARGOCD, SECURITY_GROUP, judge, request
from tests.example_policy import NOW, example_policy
from webhook.engine import evaluate
from webhook.model.decision import Decision


def paths(decision: Decision) -> dict[str, str]:
    return {v.path: v.code.value for v in decision.violations}


def service_entry(namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "se", "namespace": namespace},
        "spec": spec,
    }


def envoy_filter(namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": "ef", "namespace": namespace},
        "spec": spec,
    }


INBOUND = {"context": "SIDECAR_INBOUND"}
SHOP_SELECTOR = {"labels": {"app": "checkout"}}


def inbound_patch(apply_to: str, operation: str, **extra: Any) -> dict[str, Any]:
    return {"applyTo": apply_to, "match": dict(INBOUND, **extra.pop("match", {})),
            "patch": {"operation": operation, **extra}}


def http_filter_match(name: str | None) -> dict[str, Any]:
    inner: dict[str, Any] = {"name": "envoy.filters.network.http_connection_manager"}
    if name is not None:
        inner["subFilter"] = {"name": name}
    return {"listener": {"filterChain": {"filter": inner}}}


# -- ServiceEntry ------------------------------------------------------------------------


class TestServiceEntry:
    def test_each_host_is_reported_at_its_path(self) -> None:
        decision = judge(service_entry(hosts=["api.stripe.com", "evil.example", "*.org", "db"],
                                       resolution="DNS", ports=[{"number": 443}]))
        assert paths(decision) == {
            "spec.hosts[0]": "egress-route", "spec.hosts[1]": "serviceentry-host",
            "spec.hosts[2]": "serviceentry-host",
        }

    def test_egress_route_names_the_destination_and_the_grant_file(self) -> None:
        decision = judge(service_entry(hosts=["api.stripe.com"], resolution="DNS",
                                       ports=[{"number": 443}]))
        (message,) = decision.messages
        assert "Destination stripe" in message
        assert "services/shop/<serviceaccount>/api.stripe.com:443.rule" in message

    def test_wildcard_inside_a_wildcard_destination_is_a_route_to_it(self) -> None:
        decision = judge(service_entry(hosts=["*.bigquery.googleapis.com"], resolution="DNS",
                                       ports=[{"number": 443}]))
        assert decision.codes == ("egress-route",)
        assert "Destination googleapis" in decision.messages[0]

    def test_exact_destination_does_not_cover_a_wildcard(self) -> None:
        decision = judge(service_entry(hosts=["*.github.com"], resolution="DNS",
                                       ports=[{"number": 443}]))
        assert decision.codes == ("serviceentry-host",)

    def test_port_is_checked_against_each_hosts_destination_once(self) -> None:
        decision = judge(service_entry(hosts=["github.com", "api.stripe.com"], resolution="DNS",
                                       ports=[{"number": 22}, {"number": 443}]))
        assert paths(decision) == {
            "spec.hosts[0]": "egress-route", "spec.hosts[1]": "egress-route",
            "spec.ports[0].number": "serviceentry-port",
        }
        assert any("stripe" in m and "port 22" in m for m in decision.messages)

    @pytest.mark.parametrize("number", ["443", None, True, 443.5])
    def test_unreadable_port_numbers_are_refused(self, number: Any) -> None:
        decision = judge(service_entry(hosts=["api.stripe.com"], resolution="DNS",
                                       ports=[{"number": number}]))
        assert set(decision.codes) == {"egress-route", "serviceentry-port"}

    @pytest.mark.parametrize(
        "location", [None, "MESH_EXTERNAL", "MESH_INTERNAL", "mesh_internal", 1, ""]
    )
    def test_every_location_is_judged_for_external_hosts(self, location: Any) -> None:
        spec: dict[str, Any] = {
            "hosts": ["evil.example"], "resolution": "DNS", "ports": [{"number": 443}]}
        if location is not None:
            spec["location"] = location
        assert judge(service_entry(**spec)).codes == ("serviceentry-host",)

    @pytest.mark.parametrize(
        "host", ["reviews", "reviews.shop.svc", "reviews.shop.svc.cluster.local",
                 "*.shop.svc.cluster.local", "REVIEWS.SHOP.SVC.CLUSTER.LOCAL."],
    )
    def test_cluster_local_hosts_are_not_external(self, host: str) -> None:
        assert judge(service_entry(hosts=[host], resolution="DNS")).allowed

    @pytest.mark.parametrize(
        "host", ["*", "*.local", "reviews.shop.svc.cluster.local.evil.example",
                 "reviews.shop.svc.example.org", "svc.cluster.local"],
    )
    def test_names_outside_the_cluster_domain_are_external(self, host: str) -> None:
        decision = judge(service_entry(hosts=[host], resolution="DNS"))
        assert decision.codes == ("serviceentry-host",)

    def test_the_configured_cluster_domain_decides(self) -> None:
        policy = example_policy()
        other = dataclasses.replace(policy.config, cluster_domain="corp.internal")
        entry = service_entry(hosts=["db.shop.svc.corp.internal", "db.shop.svc.cluster.local"])
        decision = evaluate(request(entry), dataclasses.replace(policy, config=other),
                            now=NOW, namespace_labels={})
        assert paths(decision) == {"spec.hosts[1]": "serviceentry-host"}

    @pytest.mark.parametrize(
        ("spec", "internal"),
        [
            ({"resolution": "STATIC", "endpoints": [{"address": "10.0.0.1"}]}, True),
            ({"resolution": 1, "endpoints": [{"address": "127.0.0.1"}]}, True),
            ({"resolution": "STATIC", "endpoints": [{"network": "west"}]}, True),
            ({"resolution": "STATIC", "workloadSelector": {"labels": {"app": "vm"}}}, True),
            ({"resolution": "DNS", "workloadSelector": {"labels": {"app": "vm"}}}, True),
            # NONE (also when absent) is an original-destination cluster, DYNAMIC_DNS a
            # dynamic forward proxy: the selector does not bound where they go.
            ({"workloadSelector": {"labels": {"app": "vm"}}}, False),
            ({"resolution": 0, "workload_selector": {"labels": {"app": "vm"}}}, False),
            ({"resolution": "DYNAMIC_DNS", "workloadSelector": {"labels": {"app": "vm"}}}, False),
            ({"resolution": "STATIC", "endpoints": []}, False),
            ({"resolution": "STATIC", "endpoints": [{"address": "10.0.0.1"},
                                                     {"address": "db.example.net"}]}, False),
            ({"resolution": "DNS", "endpoints": [{"address": "10.0.0.1"}]}, False),
            ({"resolution": "NONE"}, False),
            ({"workloadSelector": "app=vm"}, False),
        ],
    )
    def test_an_entry_leading_only_inside_makes_its_hosts_internal(
        self, spec: dict[str, Any], internal: bool
    ) -> None:
        decision = judge(service_entry(hosts=["db.corp"], **spec))
        assert ("spec.hosts[0]" not in paths(decision)) is internal

    @pytest.mark.parametrize("protocol", ["HTTP", "http2", "GRPC", "grpc-web", "HTTP_PROXY", 7])
    def test_passthrough_http_ports_reach_any_address(self, protocol: Any) -> None:
        decision = judge(service_entry(hosts=["exfil"], addresses=["10.1.2.3"],
                                       ports=[{"number": 80, "protocol": protocol}]))
        assert paths(decision) == {"spec.ports[0].protocol": "serviceentry-host"}

    @pytest.mark.parametrize("protocol", ["TCP", "TLS", "HTTPS", None])
    def test_passthrough_other_ports_need_addresses_or_a_selector(self, protocol: Any) -> None:
        port = {"number": 5432, "protocol": protocol}
        bare = judge(service_entry(hosts=["db"], resolution="NONE", ports=[port]))
        assert paths(bare) == {"spec.resolution": "serviceentry-address"}
        for bound in ({"addresses": ["10.20.0.0/16"]},
                      {"workloadSelector": {"labels": {"app": "db"}}}):
            assert judge(service_entry(hosts=["db"], ports=[port], **bound)).allowed

    def test_other_resolutions_are_not_passthrough(self) -> None:
        for resolution in ("STATIC", "DNS", 2):
            decision = judge(service_entry(hosts=["db"], resolution=resolution,
                                           ports=[{"number": 80, "protocol": "HTTP"}]))
            assert decision.allowed

    @pytest.mark.parametrize("resolution", ["none", "Static", 9, True, ["DNS"]])
    def test_an_unreadable_resolution_is_judged_as_passthrough(self, resolution: Any) -> None:
        # The CRD's schema refuses these spellings before a validating webhook sees them;
        # `validate` reads files without it, so the engine fails closed on its own.
        decision = judge(service_entry(hosts=["exfil"], resolution=resolution,
                                       ports=[{"number": 80, "protocol": "HTTP"}]))
        assert paths(decision) == {"spec.ports[0].protocol": "serviceentry-host"}

    def test_an_internal_entry_still_may_not_take_a_covered_host(self) -> None:
        decision = judge(service_entry(hosts=["api.stripe.com", "*.org"], resolution="STATIC",
                                       endpoints=[{"address": "10.0.0.1"}]))
        assert paths(decision) == {"spec.hosts[0]": "egress-route", "spec.hosts[1]": "egress-route"}
        assert "takes over the hosts of Destination pypi" in decision.messages[1]

    def test_addresses_are_judged_on_every_location(self) -> None:
        decision = judge(service_entry(hosts=["db"], location="MESH_INTERNAL",
                                       ports=[{"number": 9999}], addresses=["8.8.8.8/32"]))
        assert paths(decision) == {"spec.addresses[0]": "serviceentry-address"}

    @pytest.mark.parametrize(
        ("endpoint", "code"),
        [("pastebin.example.net", "serviceentry-host"), ("api.github.com", "egress-route"),
         ("[10.0.0.1]", "serviceentry-host"), ("db.shop.svc.cluster.local", None)],
    )
    def test_a_hostname_endpoint_is_judged_as_a_host(self, endpoint: str, code: str) -> None:
        decision = judge(service_entry(hosts=["db"], location="MESH_INTERNAL", resolution="DNS",
                                       endpoints=[{"address": endpoint}]))
        expected = {"spec.endpoints[0].address": code} if code else {}
        assert paths(decision) == expected

    @pytest.mark.parametrize(
        "address", ["0.0.0.0", "::", "fe80::1", "100.128.0.1", 167772161]
    )
    def test_endpoint_addresses_that_are_not_provably_internal(self, address: Any) -> None:
        decision = judge(service_entry(hosts=["db"], resolution="STATIC",
                                       endpoints=[{"address": address}]))
        assert decision.codes == ("serviceentry-address",)

    def test_endpoint_without_address_on_a_named_network_is_inside(self) -> None:
        decision = judge(service_entry(hosts=["db.internal"], location="MESH_INTERNAL",
                                       resolution="STATIC", endpoints=[{"network": "west"}]))
        assert decision.allowed

    def test_update_keeping_a_bad_host_is_warned_and_a_new_one_refused(self) -> None:
        old = service_entry(hosts=["evil.example"], ports=[{"number": 443}])
        same = judge(service_entry(hosts=["evil.example"], ports=[{"number": 443}],
                                   exportTo=["."]), old=old, operation="UPDATE")
        assert same.allowed and same.warnings
        worse = judge(service_entry(hosts=["evil.example", "worse.example"],
                                    ports=[{"number": 443}]), old=old, operation="UPDATE")
        assert not worse.allowed

    def test_trusted_group_may_declare_any_host(self) -> None:
        decision = judge(service_entry(hosts=["*"], addresses=["0.0.0.0/0"]),
                         user=SECURITY_GROUP)
        assert decision.allowed and decision.codes == ()


# -- WorkloadEntry, Sidecar --------------------------------------------------------------


def workload_entry(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
            "metadata": {"name": "we", "namespace": "shop"}, "spec": spec}


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ({"address": "10.1.2.3"}, True),
        ({"address": "fd00::5"}, True),
        ({"address": "unix:///var/run/app.sock"}, True),
        ({"network": "west"}, True),
        ({}, False),
        ({"address": "vm.example.com"}, False),
        ({"address": "169.254.169.254"}, False),
        ({"address": ["10.1.2.3"]}, False),
    ],
)
def test_workload_entry_address(spec: dict[str, Any], allowed: bool) -> None:
    decision = judge(workload_entry(**spec))
    assert decision.allowed is allowed
    assert decision.codes == (() if allowed else ("external-endpoint",))


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [
        ({"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}, True),
        ({}, True),
        ({"outboundTrafficPolicy": {"mode": "Allow_Any"}}, False),
        ({"outboundTrafficPolicy": {"mode": " ALLOW_ANY "}}, False),
        ({"outboundTrafficPolicy": {"mode": 1}}, False),
        ({"outboundTrafficPolicy": {"mode": "ALLOW_ANY_DYNAMIC_DNS"}}, False),
        ({"outboundTrafficPolicy": {"mode": 3}}, False),
        ({"outboundTrafficPolicy": {"mode": 0}}, True),
        ({"outboundTrafficPolicy": {"mode": "registry_only"}}, False),
        ({"outbound_traffic_policy": {"mode": "ALLOW_ANY"}}, False),
        ({"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
          "outbound_traffic_policy": {"mode": "ALLOW_ANY"}}, False),
    ],
)
def test_sidecar_outbound_traffic_policy(policy: dict[str, Any], allowed: bool) -> None:
    sidecar = {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
               "metadata": {"name": "default", "namespace": "shop"}, "spec": policy}
    decision = judge(sidecar)
    assert decision.allowed is allowed
    assert decision.codes == (() if allowed else ("sidecar-allow-any",))


# -- EnvoyFilter -------------------------------------------------------------------------


GATEWAY_PATCH = {"applyTo": "LISTENER", "match": {"context": "GATEWAY"},
                 "patch": {"operation": "MERGE"}}


class TestEnvoyFilterReach:
    def test_root_namespace_filter_with_a_non_contradicting_selector(self) -> None:
        decision = judge(envoy_filter("istio-system", workloadSelector={"labels": {"app": "x"}},
                                      configPatches=[GATEWAY_PATCH]))
        assert decision.codes == ("envoyfilter-gateway",)

    def test_root_namespace_filter_contradicting_every_gateway(self) -> None:
        decision = judge(envoy_filter("istio-system",
                                      workloadSelector={"labels": {"istio": "ingressgateway"}},
                                      configPatches=[GATEWAY_PATCH]))
        assert decision.allowed

    def test_other_gateways_namespace_is_out_of_reach(self) -> None:
        decision = judge(envoy_filter("payments-egress",
                                      workloadSelector={"labels": {"istio": "egressgateway"}},
                                      configPatches=[GATEWAY_PATCH]))
        assert decision.allowed

    @pytest.mark.parametrize("selector", [None, {}, {"labels": {}}, {"labels": None}, "x"])
    def test_empty_or_unreadable_selector_applies_to_all(self, selector: Any) -> None:
        decision = judge(envoy_filter("istio-egress", workloadSelector=selector,
                                      configPatches=[GATEWAY_PATCH]))
        assert paths(decision) == {"spec.workloadSelector": "envoyfilter-gateway"}

    @pytest.mark.parametrize("kind", ["Gateway", "gateway", None])
    def test_target_refs_naming_a_gateway_any_group(self, kind: Any) -> None:
        # In the root namespace a Service is no gateway's waypoint; a Gateway reaches them all.
        decision = judge(envoy_filter("istio-system", targetRefs=[
            {"kind": "Service", "name": "a"}, {"group": "example.io", "kind": kind, "name": "b"},
        ], configPatches=[GATEWAY_PATCH]))
        assert paths(decision) == {"spec.targetRefs[1]": "envoyfilter-gateway"}

    @pytest.mark.parametrize("kind", ["Service", "ServiceEntry"])
    def test_target_refs_to_a_waypoint_in_a_gateway_namespace(self, kind: str) -> None:
        obj = envoy_filter("istio-egress", targetRefs=[{"kind": kind, "name": "a"}],
                           configPatches=[GATEWAY_PATCH])
        assert paths(judge(obj)) == {"spec.targetRefs[0]": "envoyfilter-gateway"}
        obj["metadata"]["namespace"] = "shop"
        assert judge(obj).allowed

    @pytest.mark.parametrize("context", ["SIDECAR_INBOUND", 1])
    def test_patches_all_for_sidecar_inbound_never_reach_a_gateway(self, context: Any) -> None:
        patch = inbound_patch("HTTP_FILTER", "INSERT_BEFORE", match=http_filter_match(
            "envoy.filters.http.router"), value={"name": "envoy.filters.http.lua"})
        patch["match"]["context"] = context
        obj = envoy_filter("istio-system", configPatches=[patch, patch])
        assert judge(obj).allowed

    @pytest.mark.parametrize("other", [{"context": "GATEWAY"}, {"context": "WAYPOINT"}, {}])
    def test_one_patch_for_another_context_reaches_them(self, other: dict[str, Any]) -> None:
        patches = [inbound_patch("LISTENER", "MERGE"),
                   {"applyTo": "LISTENER", "match": other, "patch": {"operation": "MERGE"}}]
        decision = judge(envoy_filter("istio-system", configPatches=patches))
        assert "envoyfilter-gateway" in decision.codes

    @pytest.mark.parametrize("apply_to", ["EXTENSION_CONFIG", 9, "BOOTSTRAP"])
    def test_extension_configs_ignore_their_context(self, apply_to: Any) -> None:
        patch = inbound_patch("EXTENSION_CONFIG", "ADD", value={"name": "authz"})
        patch["applyTo"] = apply_to
        decision = judge(envoy_filter("istio-system", configPatches=[patch]))
        assert "envoyfilter-gateway" in decision.codes

    def test_no_patches_is_judged_by_its_selector(self) -> None:
        decision = judge(envoy_filter("istio-egress", configPatches=[]))
        assert decision.codes == ("envoyfilter-gateway",)


class TestEnvoyFilterOutbound:
    @pytest.mark.parametrize("context", ["SIDECAR_OUTBOUND", "ANY", 0, 2, "sidecar_inbound", None])
    def test_contexts_that_reach_outbound(self, context: Any) -> None:
        match = {} if context is None else {"context": context}
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[
            {"applyTo": "LISTENER", "match": match, "patch": {"operation": "MERGE"}}]))
        assert paths(decision) == {"spec.configPatches[0].match.context": "envoyfilter-outbound"}

    @pytest.mark.parametrize("context", ["SIDECAR_INBOUND", 1])
    def test_inbound_context_is_not_outbound(self, context: Any) -> None:
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[
            {"applyTo": "LISTENER", "match": {"context": context},
             "patch": {"operation": "MERGE", "value": {}}}]))
        assert decision.allowed

    @pytest.mark.parametrize("operation", ["ADD", 2, "INSERT_FIRST", None])
    def test_adding_a_cluster_in_any_context(self, operation: Any) -> None:
        patch = inbound_patch("CLUSTER", "MERGE")
        patch["patch"]["operation"] = operation
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert paths(decision) == {"spec.configPatches[0].applyTo": "envoyfilter-outbound"}

    @pytest.mark.parametrize(
        ("value", "where"),
        [
            ({"typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.lua"
                               ".v3.Lua", "inline_code": "function envoy_on_request(h) end"}},
             'typed_config["@type"]'),
            ({"typedConfig": {"@type": "type.googleapis.com/xds.type.v3.TypedStruct",
                              "type_url": "type.googleapis.com/envoy.extensions.filters.http"
                                          ".lua.v3.LuaPerRoute"}},
             "typedConfig.type_url"),
            ({"grpc_service": {"googleGrpc": {"target_uri": "authz.example:443"}}},
             "grpc_service.googleGrpc"),
        ],
    )
    def test_code_and_self_dialling_clients_in_any_context(
        self, value: dict[str, Any], where: str
    ) -> None:
        patch = inbound_patch("HTTP_FILTER", "INSERT_BEFORE", value=value)
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert paths(decision) == {
            f"spec.configPatches[0].patch.value.{where}": "envoyfilter-outbound"}

    def test_a_filter_merely_named_lua_is_judged_by_its_type(self) -> None:
        value = {"name": "lua-headers", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3"
                     ".HeaderMutation"}}
        patch = inbound_patch("HTTP_FILTER", "INSERT_BEFORE", value=value)
        assert judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch])).allowed

    def test_bootstrap_static_clusters_add_clusters(self) -> None:
        patch = inbound_patch("BOOTSTRAP", "MERGE",
                              value={"staticResources": {"clusters": [{"name": "out"}]}})
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert decision.codes == ("envoyfilter-outbound",)

    @pytest.mark.parametrize(
        "value",
        [
            {"listener_filters": [{"name": "envoy.filters.listener.original_dst"}]},
            {"useOriginalDst": True},
            {"USE_ORIGINAL_DST": "x"},
            {"route": {"cluster": "InboundPassthroughClusterIpv4"}},
            {"cluster_type": {"name": "envoy.clusters.dynamic_forward_proxy"}},
            {"deep": [[[{"type": "original-dst"}]]]},
        ],
    )
    def test_passthrough_anywhere_in_the_patch(self, value: dict[str, Any]) -> None:
        patch = inbound_patch("LISTENER", "MERGE", value=value)
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert decision.codes == ("envoyfilter-outbound",)
        assert decision.violations[0].path.startswith("spec.configPatches[0].patch.value")

    def test_field_spelled_both_ways_is_ambiguous(self) -> None:
        patch = inbound_patch("LISTENER", "MERGE")
        patch["apply_to"] = "CLUSTER"
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert paths(decision) == {"spec.configPatches[0].applyTo": "envoyfilter-outbound"}

    def test_snake_case_patch_list_is_read(self) -> None:
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, config_patches=[
            {"apply_to": "CLUSTER", "match": INBOUND, "patch": {"operation": "ADD"}}]))
        assert decision.codes == ("envoyfilter-outbound",)


class TestEnvoyFilterProtectedFilters:
    @pytest.mark.parametrize(
        "name",
        ["envoy.filters.http.rbac", "rbac", "envoy.ext_authz", "ext_authz", "envoy.lua",
         "envoy.filters.http.wasm", "ENVOY.FILTERS.HTTP.RBAC", " envoy.filters.http.lua "],
    )
    @pytest.mark.parametrize("operation", ["REMOVE", "REPLACE", "MERGE", 3, 7])
    def test_weakening_a_protected_http_filter(self, name: str, operation: Any) -> None:
        patch = inbound_patch("HTTP_FILTER", "REMOVE", match=http_filter_match(name))
        patch["patch"]["operation"] = operation
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert decision.codes == ("envoyfilter-protected-filter",)

    @pytest.mark.parametrize("operation", ["INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST", "ADD"])
    def test_inserting_next_to_a_protected_filter_is_not_weakening(self, operation: str) -> None:
        patch = inbound_patch("HTTP_FILTER", operation,
                              match=http_filter_match("envoy.filters.http.rbac"),
                              value={"name": "envoy.filters.http.buffer"})
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert decision.allowed

    def test_removing_an_unprotected_filter_is_allowed(self) -> None:
        patch = inbound_patch("HTTP_FILTER", "REMOVE",
                              match=http_filter_match("envoy.filters.http.cors"))
        assert judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch])).allowed

    def test_removing_without_a_sub_filter_name_reaches_every_filter(self) -> None:
        patch = inbound_patch("HTTP_FILTER", "REMOVE", match=http_filter_match(None))
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert decision.codes == ("envoyfilter-protected-filter",)

    @pytest.mark.parametrize(
        ("name", "operation"),
        [("envoy.filters.network.http_connection_manager", "REPLACE"),
         ("envoy.filters.network.http_connection_manager", "REMOVE"),
         ("envoy.filters.network.rbac", "MERGE"),
         ("envoy.filters.network.ext_authz", "REMOVE")],
    )
    def test_network_filters_that_carry_authorization(self, name: str, operation: str) -> None:
        match = {"listener": {"filterChain": {"filter": {"name": name}}}}
        patch = inbound_patch("NETWORK_FILTER", operation, match=match)
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert decision.codes == ("envoyfilter-protected-filter",)

    def test_merging_the_connection_manager_is_allowed(self) -> None:
        match = {"listener": {"filterChain": {"filter": {
            "name": "envoy.filters.network.http_connection_manager"}}}}
        patch = inbound_patch("NETWORK_FILTER", "MERGE", match=match,
                              value={"typed_config": {"server_name": "shop"}})
        assert judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch])).allowed

    def test_per_route_config_disabling_ext_authz(self) -> None:
        patch = inbound_patch("HTTP_ROUTE", "MERGE", value={"typed_per_filter_config": {
            "envoy.filters.http.ext_authz": {"disabled": True}}})
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert paths(decision) == {
            "spec.configPatches[0].patch.value.typed_per_filter_config":
                "envoyfilter-protected-filter"}


class TestEnvoyFilterCorners:
    @pytest.mark.parametrize("operation", ["ADD", 2, "INSERT_FIRST", "INSERT_AFTER", None])
    @pytest.mark.parametrize("context", ["SIDECAR_INBOUND", "GATEWAY"])
    def test_a_listener_added_in_any_context(self, operation: Any, context: str) -> None:
        patch = {"applyTo": "LISTENER", "match": {"context": context},
                 "patch": {"operation": operation, "value": {"name": "relay"}}}
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert paths(decision) == {"spec.configPatches[0].applyTo": "envoyfilter-outbound"}

    @pytest.mark.parametrize(
        ("value", "path"),
        [
            ({"route": {"cluster": "outbound|443||api.stripe.com"}}, ".route.cluster"),
            ({"route": {"weighted_clusters": {"clusters": [
                {"name": "inbound|8080||"}, {"name": "OUTBOUND|443||x.io"}]}}},
             ".route.weighted_clusters.clusters[1].name"),
            ({"route": {"cluster_header": "x-cluster"}}, ".route.cluster_header"),
            ({"route": {"clusterSpecifierPlugin": {}}}, ".route.clusterSpecifierPlugin"),
            ({"route": {"cluster": "outbound_.443_._.api.stripe.com"}}, ".route.cluster"),
        ],
    )
    def test_a_value_naming_an_outbound_cluster(self, value: dict[str, Any], path: str) -> None:
        patch = inbound_patch("HTTP_ROUTE", "MERGE", value=value)
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert paths(decision) == {
            "spec.configPatches[0].patch.value" + path: "envoyfilter-outbound"}

    @pytest.mark.parametrize("context", ["SIDECAR_OUTBOUND", "WAYPOINT", "ANY", None])
    @pytest.mark.parametrize("apply_to", ["CLUSTER", "LISTENER", "VIRTUAL_HOST", "NETWORK_FILTER"])
    def test_a_remove_opens_nothing(self, context: Any, apply_to: str) -> None:
        match = {} if context is None else {"context": context}
        patch = {"applyTo": apply_to, "match": match, "patch": {"operation": "REMOVE"}}
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert "envoyfilter-outbound" not in decision.codes

    def test_a_remove_of_a_protected_filter_in_the_outbound_context(self) -> None:
        patch = inbound_patch("HTTP_FILTER", "REMOVE", match=http_filter_match("envoy.lua"))
        patch["match"]["context"] = "SIDECAR_OUTBOUND"
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert decision.codes == ("envoyfilter-protected-filter",)

    @pytest.mark.parametrize(
        ("name", "operation", "refused"),
        [
            ("envoy.filters.network.http_connection_manager", "MERGE_AND_REPLACE_LIST", True),
            ("envoy.filters.network.http_connection_manager", 8, True),
            ("envoy.http_connection_manager", "REPLACE", True),
            ("envoy.filters.network.http_connection_manager", "MERGE", False),
            ("acme.http_connection_manager", "REPLACE", False),
            ("envoy.filters.network.http_connection_manager.v2", "REMOVE", False),
            ("envoy.filters.network.rbac", "MERGE_AND_REPLACE_LIST", True),
        ],
    )
    def test_connection_manager_named_exactly(
        self, name: str, operation: Any, refused: bool
    ) -> None:
        match = {"listener": {"filterChain": {"filter": {"name": name}}}}
        patch = inbound_patch("NETWORK_FILTER", "MERGE", match=match, value={})
        patch["patch"]["operation"] = operation
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert decision.codes == (("envoyfilter-protected-filter",) if refused else ())

    @pytest.mark.parametrize(
        ("parent", "refused"),
        [("envoy.http_connection_manager", True), (None, True),
         ("acme.http_connection_manager", False), ("envoy.filters.network.tcp_proxy", False)],
    )
    def test_http_filter_patches_apply_under_the_connection_manager_only(
        self, parent: str | None, refused: bool
    ) -> None:
        inner: dict[str, Any] = {"subFilter": {"name": "envoy.filters.http.rbac"}}
        if parent is not None:
            inner["name"] = parent
        match = {"listener": {"filterChain": {"filter": inner}}}
        patch = inbound_patch("HTTP_FILTER", "REMOVE", match=match)
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert decision.codes == (("envoyfilter-protected-filter",) if refused else ())

    @pytest.mark.parametrize(
        ("apply_to", "value", "refused"),
        [
            ("LISTENER", {"filter_chains": []}, True),
            ("LISTENER", {"defaultFilterChain": {}}, True),
            ("LISTENER", {"listener_filters": []}, False),
            ("FILTER_CHAIN", {"filters": []}, True),
            ("FILTER_CHAIN", {"transport_socket": {}}, False),
        ],
    )
    def test_replacing_lists_that_hold_the_connection_manager(
        self, apply_to: str, value: dict[str, Any], refused: bool
    ) -> None:
        patch = inbound_patch(apply_to, "MERGE_AND_REPLACE_LIST", value=value)
        decision = judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch]))
        assert decision.codes == (("envoyfilter-protected-filter",) if refused else ())

    def test_a_plain_merge_of_the_filter_chains_appends(self) -> None:
        patch = inbound_patch("LISTENER", "MERGE", value={"filter_chains": []})
        assert judge(envoy_filter(workloadSelector=SHOP_SELECTOR, configPatches=[patch])).allowed


def test_every_envoyfilter_code_at_once_and_argocd_may_apply_it() -> None:
    obj = envoy_filter("istio-system", configPatches=[
        {"applyTo": "CLUSTER", "patch": {"operation": "ADD", "value": {"type": "ORIGINAL_DST"}}},
        inbound_patch("HTTP_FILTER", "REMOVE", match=http_filter_match("rbac")),
    ])
    assert sorted(judge(obj).codes) == [
        "envoyfilter-gateway", "envoyfilter-outbound", "envoyfilter-protected-filter"]
    assert judge(obj, user=ARGOCD).codes == ()


def test_messages_stay_short() -> None:
    long_name = "x" * 500
    obj = envoy_filter("istio-egress", configPatches=[
        inbound_patch("HTTP_FILTER", "REMOVE", match=http_filter_match(long_name + ".rbac")),
        {"applyTo": "LISTENER", "match": {"context": long_name}, "patch": {"value": long_name}},
    ])
    for decision in (
        judge(obj),
        judge(service_entry(hosts=[long_name + ".com"], addresses=[long_name],
                            endpoints=[{"address": long_name}])),
        judge(service_entry(hosts=["github.com"], ports=[{"number": 10**40}])),
        judge(workload_entry(address=long_name)),
    ):
        assert decision.violations
        assert all(len(v.message) < 200 for v in decision.violations), decision.messages
