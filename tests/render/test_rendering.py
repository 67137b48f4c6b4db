"""What render decides, by behaviour: who gets through, where, and what it says it left out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.example_policy import CONFIG, DESTINATIONS, GOLDEN_NOW, example_policy
from webhook.model.addresses import PRIVATE_RANGES
from webhook.model.rules import Access, Destination, Grant, Policy, Port
from webhook.render import RenderError, RenderMode, RenderOptions, render
from webhook.render.output import MARKER, file_text, write_directory

SIDECAR = RenderMode.ISTIO_SIDECAR
AMBIENT = RenderMode.ISTIO_AMBIENT
ENVOY = RenderMode.ENVOY_PER_DESTINATION
Doc = dict[str, Any]


def rendered(
    mode: RenderMode, policy: Policy | None = None, **options: Any
) -> list[tuple[str, tuple[str, ...], Doc]]:
    """(file name, file notes, document) for every document, in order."""
    now = options.pop("now", GOLDEN_NOW)
    # Gateway pods on the Service ports, unless a test is about the mapping (the default,
    # istioctl's, has a test of its own).
    options.setdefault("gateway_pod_ports", {})
    result = render(policy or example_policy(), mode, RenderOptions(now=now, **options))
    return [(f.name, f.notes, doc) for f in result.files for doc in f.documents]


def docs(mode: RenderMode, policy: Policy | None = None, **options: Any) -> list[Doc]:
    return [doc for _, _, doc in rendered(mode, policy, **options)]


def find(documents: Iterable[Doc], kind: str, name: str, namespace: str | None = None) -> Doc:
    matches = [
        d
        for d in documents
        if d["kind"] == kind
        and d["metadata"]["name"] == name
        and namespace in (None, d["metadata"].get("namespace"))
    ]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def notes_of(mode: RenderMode, file: str, policy: Policy | None = None) -> str:
    result = render(policy or example_policy(), mode, RenderOptions(now=GOLDEN_NOW))
    return " ".join(next(f for f in result.files if f.name == file).notes)


def policy_with(*destinations: Destination, grants: tuple[Grant, ...] = ()) -> Policy:
    return example_policy(destinations=destinations, grants=grants)


# --- NetworkPolicies, every mode ---------------------------------------------------------

@pytest.mark.parametrize(
    ("mode", "port"), [(SIDECAR, 443), (AMBIENT, 15008), (ENVOY, 10443)], ids=str
)
def test_gateway_ingress_admits_only_pods_with_the_entitlement_label_from_any_namespace(
    mode: RenderMode, port: int
) -> None:
    policy = find(docs(mode), "NetworkPolicy", "stripe-ingress")
    assert policy["metadata"]["namespace"] == "payments-egress"
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {},
                    "podSelector": {"matchLabels": {"egressguard.io/allow-stripe": "true"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": port}],
        }
    ]


@pytest.mark.parametrize("mode", list(RenderMode), ids=str)
def test_gateway_egress_is_public_addresses_on_the_ports_the_gateway_dials(
    mode: RenderMode,
) -> None:
    egress = find(docs(mode), "NetworkPolicy", "partner-api-egress")["spec"]["egress"][0]
    # TLS origination: pods speak to port 80, the gateway dials 443.
    assert egress["ports"] == [{"protocol": "TCP", "port": 443}]
    v4, v6 = (block["ipBlock"] for block in egress["to"])
    assert v4["cidr"] == "0.0.0.0/0" and v6["cidr"] == "::/0"
    excepted = set(v4["except"]) | set(v6["except"])
    assert {str(network) for network in PRIVATE_RANGES} <= excepted
    assert "169.254.0.0/16" in excepted  # cloud metadata


def test_a_gateway_port_shared_by_destinations_says_the_mesh_policy_tells_them_apart() -> None:
    sidecar = find(docs(SIDECAR), "NetworkPolicy", "github-ingress")["metadata"]["annotations"]
    assert sidecar["egressguard.io/shared-port"].startswith(
        "port 443 of these pods also carries gcs, googleapis, pypi, slack:"
    )
    assert "AuthorizationPolicy" in sidecar["egressguard.io/shared-port"]
    ambient = find(docs(AMBIENT), "NetworkPolicy", "github-ingress")["metadata"]["annotations"]
    assert "port 15008" in ambient["egressguard.io/shared-port"]
    stripe = find(docs(SIDECAR), "NetworkPolicy", "stripe-ingress")["metadata"]["annotations"]
    assert "egressguard.io/shared-port" not in stripe  # alone on the payments gateway
    envoy = find(docs(ENVOY), "NetworkPolicy", "github-ingress")["metadata"]["annotations"]
    assert "egressguard.io/shared-port" not in envoy  # its own pods


@pytest.mark.parametrize("mode", [SIDECAR, AMBIENT])
def test_a_gateway_of_many_destinations_names_ten_others_and_counts_the_rest(
    mode: RenderMode,
) -> None:
    """With thousands of destinations on one gateway, naming every other one on each
    policy would make the output grow with the square of their number."""
    many = tuple(
        Destination(f"d{i:02}", (f"d{i:02}.example.com",), (Port(443, "HTTPS"),),
                    "istio-egressgateway")
        for i in range(25)
    )
    documents = docs(mode, example_policy(destinations=many, grants=()))
    shared = find(documents, "NetworkPolicy", "d07-ingress")["metadata"]["annotations"][
        "egressguard.io/shared-port"
    ]
    others = ", ".join(f"d{i:02}" for i in range(11) if i != 7)
    assert f"also carries {others} and 14 more:" in shared
    last = find(documents, "NetworkPolicy", "d24-ingress")["metadata"]["annotations"]
    assert "also carries d00, d01," in last["egressguard.io/shared-port"]


def test_an_expired_grant_grants_nothing_and_a_namespace_left_without_grants_gets_no_fence(
) -> None:
    grants = (Grant("legacy", "app", "hooks.slack.com", 443, "slack", expires=date(2026, 1, 31)),)
    documents = docs(SIDECAR, example_policy(grants=grants))
    assert not [d for d in documents if d["metadata"]["name"] == "egressguard-fence"]
    assert "rules" not in find(documents, "AuthorizationPolicy", "slack")["spec"]


@pytest.mark.parametrize("mode", list(RenderMode), ids=str)
def test_every_object_says_it_is_managed_by_egressguard_and_from_which_rules(
    mode: RenderMode,
) -> None:
    for doc in docs(mode):
        assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "egressguard"
        assert doc["metadata"]["annotations"]["egressguard.io/rules-revision"] == "rules-example"


@pytest.mark.parametrize("mode", list(RenderMode), ids=str)
def test_labels_and_annotations_use_the_configured_prefix(mode: RenderMode) -> None:
    policy = example_policy(config=replace(CONFIG, label_prefix="egress.example.com"))
    documents = docs(mode, policy)
    ingress = find(documents, "NetworkPolicy", "stripe-ingress")
    assert ingress["spec"]["ingress"][0]["from"][0]["podSelector"] == {
        "matchLabels": {"egress.example.com/allow-stripe": "true"}
    }
    assert "egress.example.com/rules-revision" in ingress["metadata"]["annotations"]
    assert not any("egressguard.io/" in str(doc) for doc in documents)


# --- istio-sidecar -----------------------------------------------------------------------

def test_sidecar_gateway_admits_only_granted_principals_for_each_name_by_sni() -> None:
    slack = find(docs(SIDECAR), "AuthorizationPolicy", "slack")["spec"]
    assert slack["selector"] == {"matchLabels": {"istio": "egressgateway"}}
    assert slack["rules"] == [
        {
            # shop/notifier's grant expired on 2026-01-31: not here.
            "from": [{"source": {"principals": ["cluster.local/ns/shop/sa/default"]}}],
            "to": [{"operation": {"ports": ["443"]}}],
            "when": [{"key": "connection.sni", "values": ["hooks.slack.com"]}],
        }
    ]


def test_sidecar_grants_are_narrowed_to_the_granted_host_and_port() -> None:
    rules = find(docs(SIDECAR), "AuthorizationPolicy", "github")["spec"]["rules"]
    assert [(r["to"][0]["operation"]["ports"], r["when"][0]["values"]) for r in rules] == [
        (["443"], ["github.com"]),
        (["22"], ["github.com"]),
    ]  # nobody is granted api.github.com


def test_sidecar_open_destination_admits_any_authenticated_principal() -> None:
    rules = find(docs(SIDECAR), "AuthorizationPolicy", "pypi")["spec"]["rules"]
    assert {tuple(r["from"][0]["source"]["principals"]) for r in rules} == {("*",)}
    assert [r["when"][0]["values"] for r in rules] == [["pypi.org"], ["files.pythonhosted.org"]]


def test_sidecar_http_is_matched_by_host_header_and_tls_origination_is_rendered() -> None:
    documents = docs(SIDECAR)
    rule = find(documents, "AuthorizationPolicy", "partner-api")["spec"]["rules"][0]
    assert rule["to"] == [
        {
            "operation": {
                "hosts": ["orders.partner.example", "orders.partner.example:*"],
                "ports": ["80"],
            }
        }
    ]
    assert "when" not in rule
    entry = find(documents, "ServiceEntry", "partner-api")["spec"]
    assert entry["ports"] == [
        {"number": 80, "name": "http-80", "protocol": "HTTP", "targetPort": 443}
    ]
    origination = find(documents, "DestinationRule", "partner-api-tls-orders-partner-example")
    assert origination["spec"]["trafficPolicy"]["portLevelSettings"] == [
        {
            "port": {"number": 80},
            "tls": {
                "mode": "SIMPLE",
                "sni": "orders.partner.example",
                "subjectAltNames": ["orders.partner.example"],
            },
        }
    ]
    server = find(documents, "Gateway", "partner-api")["spec"]["servers"][0]
    assert server["port"]["protocol"] == "HTTPS" and server["tls"] == {"mode": "ISTIO_MUTUAL"}


def test_sidecar_gateway_servers_accept_routes_only_from_the_gateway_namespace() -> None:
    """A VirtualService elsewhere bound to the egress Gateway could send a granted name's
    traffic to another destination, past that destination's AuthorizationPolicy."""
    servers = find(docs(SIDECAR), "Gateway", "github")["spec"]["servers"]
    assert [server["hosts"] for server in servers] == [
        ["./github.com"], ["./api.github.com"], ["./github.com"], ["./api.github.com"]
    ]


def test_sidecar_routes_mesh_traffic_through_the_gateway_subset_carrying_the_name() -> None:
    documents = docs(SIDECAR)
    service = find(documents, "VirtualService", "stripe-api-stripe-com")["spec"]
    assert service["gateways"] == ["mesh", "payments-egress/stripe"]
    to_gateway = service["tls"][0]["route"][0]["destination"]
    assert to_gateway == {
        "host": "payments-egressgateway.payments-egress.svc.cluster.local",
        "subset": "stripe-api-stripe-com",
        "port": {"number": 443},
    }
    assert service["tcp"][0]["route"][0]["destination"]["host"] == "api.stripe.com"
    subsets = find(documents, "DestinationRule", "stripe-gateway")["spec"]["subsets"]
    assert subsets[0]["trafficPolicy"]["portLevelSettings"][0]["tls"] == {
        "mode": "ISTIO_MUTUAL",
        "sni": "api.stripe.com",
    }


def test_sidecar_routes_granted_names_under_a_wildcard_and_says_why_not_the_wildcard() -> None:
    documents = docs(SIDECAR)
    assert find(documents, "ServiceEntry", "googleapis")["spec"]["hosts"] == [
        "bigquery.googleapis.com"
    ]
    note = notes_of(SIDECAR, "destination-googleapis.yaml")
    assert "*.googleapis.com not rendered" in note and "bigquery.googleapis.com" in note


def test_an_open_wildcard_destination_renders_nothing_routable_in_sidecar_mode() -> None:
    policy = policy_with(
        Destination("cdn", ("*.cdn.example",), (Port(443, "HTTPS"),), "istio-egressgateway",
                    access=Access.OPEN)
    )
    assert docs(SIDECAR, policy) == []
    assert "no name it covers can be routed" in notes_of(SIDECAR, "destination-cdn.yaml", policy)


def test_sidecar_gateway_pod_ports_default_to_what_istioctl_installs() -> None:
    """istioctl's egress gateway Service maps 80 to 8080 and 443 to 8443."""
    documents = [
        doc for file in render(example_policy(), SIDECAR, RenderOptions(now=GOLDEN_NOW)).files
        for doc in file.documents
    ]
    assert find(documents, "NetworkPolicy", "stripe-ingress")["spec"]["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": 8443}
    ]
    same = docs(SIDECAR, gateway_pod_ports={})
    assert find(same, "NetworkPolicy", "stripe-ingress")["spec"]["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": 443}
    ]


def test_sidecar_gateway_pod_ports_follow_the_target_port_mapping() -> None:
    documents = docs(SIDECAR, gateway_pod_ports={443: 9443, 80: 8080})
    assert find(documents, "NetworkPolicy", "stripe-ingress")["spec"]["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": 9443}
    ]
    assert find(documents, "AuthorizationPolicy", "stripe")["spec"]["rules"][0]["to"] == [
        {"operation": {"ports": ["9443"]}}
    ]
    patch = find(documents, "EnvoyFilter", "partner-api-dlp")["spec"]["configPatches"][0]
    assert patch["match"]["listener"]["portNumber"] == 8080
    # The Istio objects keep the Service port.
    server = find(documents, "Gateway", "stripe")["spec"]["servers"][0]
    assert server["port"]["number"] == 443


def test_sidecar_dlp_is_an_envoy_filter_on_the_gateway_before_the_router() -> None:
    dlp = find(docs(SIDECAR), "EnvoyFilter", "partner-api-dlp")["spec"]
    assert dlp["workloadSelector"] == {"labels": {"istio": "egressgateway"}}
    patch = dlp["configPatches"][0]
    assert patch["applyTo"] == "HTTP_FILTER" and patch["match"]["context"] == "GATEWAY"
    assert patch["match"]["listener"]["filterChain"]["filter"]["subFilter"] == {
        "name": "envoy.filters.http.router"
    }
    assert patch["patch"]["operation"] == "INSERT_BEFORE"
    code = patch["patch"]["value"]["typed_config"]["default_source_code"]["inline_string"]
    assert '"-----BEGIN RSA PRIVATE KEY-----"' in code and '["orders.partner.example"]' in code


@pytest.mark.parametrize("mode", list(RenderMode), ids=str)
def test_dlp_is_not_applied_where_the_body_is_encrypted_and_the_output_says_so(
    mode: RenderMode,
) -> None:
    policy = policy_with(
        Destination("vault", ("vault.example",), (Port(443, "HTTPS"),), "istio-egressgateway",
                    block_body_patterns=("secret",))
    )
    kinds = {doc["kind"] for doc in docs(mode, policy)}
    assert not kinds & {"EnvoyFilter", "TrafficExtension"}
    assert "secret" not in str(docs(mode, policy))
    assert "not applied on port 443/HTTPS" in notes_of(mode, "destination-vault.yaml", policy)


def test_an_expiring_grant_dates_the_policy_that_admits_it() -> None:
    gcs = find(docs(SIDECAR), "AuthorizationPolicy", "gcs")
    assert gcs["metadata"]["annotations"]["egressguard.io/valid-until"] == "2027-06-30"
    assert "expires after 2027-06-30" in notes_of(SIDECAR, "destination-gcs.yaml")


def test_grants_are_judged_at_the_time_given_not_the_clock() -> None:
    early = datetime(2026, 1, 1, tzinfo=UTC)
    rules = find(docs(SIDECAR, now=early), "AuthorizationPolicy", "slack")["spec"]["rules"]
    assert rules[0]["from"][0]["source"]["principals"] == [
        "cluster.local/ns/shop/sa/default",
        "cluster.local/ns/shop/sa/notifier",
    ]


def test_the_gateway_admits_nothing_by_default() -> None:
    allow_nothing = find(
        docs(SIDECAR), "AuthorizationPolicy", "egressguard-allow-nothing", "istio-egress"
    )
    assert allow_nothing["spec"] == {
        "selector": {"matchLabels": {"istio": "egressgateway"}},
        "action": "ALLOW",
    }


# --- istio-ambient -----------------------------------------------------------------------

def test_ambient_binds_one_service_entry_per_name_to_the_waypoint_each_with_a_policy() -> None:
    documents = docs(AMBIENT)
    entries = [
        d
        for d in documents
        if d["kind"] == "ServiceEntry" and d["metadata"]["name"].startswith("github")
    ]
    assert [e["spec"]["hosts"] for e in entries] == [["github.com"], ["api.github.com"]]
    assert {e["metadata"]["labels"]["istio.io/use-waypoint"] for e in entries} == {
        "istio-egressgateway"
    }
    granted = find(documents, "AuthorizationPolicy", "github-github-com")["spec"]
    assert granted["targetRefs"] == [
        {"group": "networking.istio.io", "kind": "ServiceEntry", "name": "github-github-com"}
    ]
    assert [r["to"][0]["operation"]["ports"] for r in granted["rules"]] == [["443"], ["22"]]
    # Nobody is granted api.github.com: a policy with no rules admits nobody (without one,
    # the waypoint would admit everyone).
    assert "rules" not in find(documents, "AuthorizationPolicy", "github-api-github-com")["spec"]


def test_ambient_wildcard_is_resolved_per_request_and_narrowed_to_granted_names_by_sni() -> None:
    documents = docs(AMBIENT)
    entry = find(documents, "ServiceEntry", "googleapis-wildcard")["spec"]
    assert entry["hosts"] == ["*.googleapis.com"] and entry["resolution"] == "DYNAMIC_DNS"
    rules = find(documents, "AuthorizationPolicy", "googleapis-wildcard")["spec"]["rules"]
    assert rules == [
        {
            "from": [{"source": {"principals": ["cluster.local/ns/data/sa/exporter"]}}],
            "to": [{"operation": {"ports": ["443"]}}],
            "when": [{"key": "connection.sni", "values": ["bigquery.googleapis.com"]}],
        }
    ]


def test_ambient_dlp_is_a_traffic_extension_on_the_service_entry_not_an_envoy_filter() -> None:
    documents = docs(AMBIENT)
    assert not [d for d in documents if d["kind"] == "EnvoyFilter"]
    extension = find(documents, "TrafficExtension", "partner-api-dlp")
    assert extension["apiVersion"] == "extensions.istio.io/v1alpha1"
    assert extension["spec"]["targetRefs"] == [
        {
            "group": "networking.istio.io",
            "kind": "ServiceEntry",
            "name": "partner-api-orders-partner-example",
        }
    ]
    assert "AKIA" in extension["spec"]["lua"]["inlineCode"]


def test_ambient_renders_the_waypoint_with_the_gateway_selector_on_its_pods() -> None:
    waypoint = find(docs(AMBIENT), "Gateway", "payments-egressgateway")
    assert waypoint["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert waypoint["metadata"]["labels"]["istio.io/waypoint-for"] == "service"
    assert waypoint["spec"] == {
        "gatewayClassName": "istio-waypoint",
        "infrastructure": {"labels": {"istio": "payments-egressgateway"}},
        "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
    }


# --- envoy-per-destination ---------------------------------------------------------------

def test_each_destination_gets_its_own_envoy_with_autoscaler_and_budget() -> None:
    documents = docs(ENVOY)
    kinds = [d["kind"] for d in documents if d["metadata"]["name"] == "stripe"]
    assert kinds == [
        "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"
    ]
    deployment = find(documents, "Deployment", "stripe")
    assert "replicas" not in deployment["spec"]  # the autoscaler holds it, at least 3
    assert find(documents, "HorizontalPodAutoscaler", "stripe")["spec"]["minReplicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "envoyproxy/envoy:v1.40.0"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert find(documents, "Service", "stripe")["spec"]["ports"] == [
        {"name": "https-443", "port": 443, "targetPort": 10443, "protocol": "TCP"}
    ]


def test_coredns_rewrites_every_routable_name_exactly_to_its_envoy_service() -> None:
    config = find(docs(ENVOY), "ConfigMap", "egressguard-coredns")
    assert config["metadata"]["namespace"] == "kube-system"
    lines = config["data"]["egressguard.override"].splitlines()
    assert "rewrite name exact api.stripe.com stripe.payments-egress.svc.cluster.local" in lines
    assert (
        "rewrite name exact bigquery.googleapis.com googleapis.istio-egress.svc.cluster.local"
        in lines
    )
    assert not any("*" in line for line in lines)
    assert lines == sorted(lines)
    assert "CoreDNS can rewrite a wildcard only with a regex rule" in notes_of(
        ENVOY, "destination-googleapis.yaml"
    )


DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def coredns_lines(documents: list[Doc]) -> list[str]:
    text = find(documents, "ConfigMap", "egressguard-coredns")["data"]["egressguard.override"]
    return str(text).splitlines()


def test_envoy_resolves_through_the_cluster_dns_by_default_and_may_reach_it() -> None:
    """No resolver named (c-ares reads the pod's resolv.conf), the marked name asked, the
    cluster DNS pods reachable, and CoreDNS answering the marked name with the real one."""
    documents = docs(ENVOY)
    envoy = yaml.safe_load(find(documents, "ConfigMap", "stripe")["data"]["envoy.yaml"])
    (cluster,) = envoy["static_resources"]["clusters"]
    resolver = cluster["typed_dns_resolver_config"]["typed_config"]
    assert "resolvers" not in resolver
    assert resolver["dns_resolver_options"] == {"no_default_search_domain": True}
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {
        "address": "api.stripe.com.upstream.egressguard.invalid", "port_value": 443,
    }
    pod = find(documents, "Deployment", "stripe")["spec"]["template"]["spec"]
    assert pod["dnsPolicy"] == "ClusterFirst"
    egress = find(documents, "NetworkPolicy", "stripe-egress")["spec"]["egress"]
    assert egress[1] == {
        "to": [{
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }],
        "ports": DNS_PORTS,
    }
    assert not any("1.1.1.1" in str(d) or "8.8.8.8" in str(d) for d in documents)
    lines = coredns_lines(documents)
    assert (
        "rewrite name exact api.stripe.com.upstream.egressguard.invalid api.stripe.com" in lines
    )
    assert "rewrite name exact api.stripe.com stripe.payments-egress.svc.cluster.local" in lines


def test_envoy_resolves_real_names_through_the_given_resolvers_and_may_reach_them() -> None:
    documents = docs(ENVOY, upstream_resolvers=("10.0.0.2",))
    envoy = find(documents, "ConfigMap", "stripe")["data"]["envoy.yaml"]
    assert "address: 10.0.0.2" in envoy
    assert "address: api.stripe.com\n" in envoy and "egressguard.invalid" not in envoy
    egress = find(documents, "NetworkPolicy", "stripe-egress")["spec"]["egress"]
    assert egress[1] == {"to": [{"ipBlock": {"cidr": "10.0.0.2/32"}}], "ports": DNS_PORTS}
    assert not any("egressguard.invalid" in line for line in coredns_lines(documents))


def test_a_config_change_rolls_the_envoy_pods() -> None:
    def config_hash(policy: Policy) -> str:
        deployment = find(docs(ENVOY, policy), "Deployment", "partner-api")
        return str(deployment["spec"]["template"]["metadata"]["annotations"])

    changed = tuple(
        replace(d, block_body_patterns=("AKIA",)) if d.name == "partner-api" else d
        for d in DESTINATIONS
    )
    assert config_hash(example_policy()) != config_hash(example_policy(destinations=changed))


def test_a_tcp_port_with_several_names_says_where_it_goes() -> None:
    assert "Port 22/TCP carries no name" in notes_of(ENVOY, "destination-github.yaml")


# --- errors and output -------------------------------------------------------------------

def test_a_destination_naming_an_unknown_gateway_is_a_render_error() -> None:
    policy = policy_with(Destination("x", ("x.example",), (Port(443, "HTTPS"),), "nowhere"))
    with pytest.raises(RenderError, match="nowhere"):
        render(policy, SIDECAR, RenderOptions(now=GOLDEN_NOW))


def test_a_file_opens_with_what_rendered_it_and_its_notes() -> None:
    rendering = render(example_policy(), ENVOY, RenderOptions(now=GOLDEN_NOW))
    file = next(f for f in rendering.files if f.name == "destination-googleapis.yaml")
    text = file_text(rendering, file)
    assert text.startswith(
        f"{MARKER} (mode envoy-per-destination) from rules revision rules-example.\n"
    )
    assert "# - *.googleapis.com not rendered" in text


def test_writing_a_folder_replaces_stale_rendered_files_and_keeps_others(tmp_path: Path) -> None:
    (tmp_path / "destination-retired.yaml").write_text(f"{MARKER} (mode x) from rules\n")
    (tmp_path / "mine.yaml").write_text("kind: Mine\n")
    rendering = render(example_policy(), SIDECAR, RenderOptions(now=GOLDEN_NOW))
    write_directory(rendering, tmp_path)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert "destination-retired.yaml" not in names and "mine.yaml" in names
    assert len(names) == len(rendering.files) + 1
