"""Reading audit and gateway access logs: what each line says, and what is never guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook.learn import Reading, read_access_log, read_audit_log
from webhook.learn.observations import Need, Unattributed

LOGS = Path(__file__).parent / "logs"


def _audit(name: str) -> Reading:
    return read_audit_log(name, (LOGS / name).read_text().splitlines())


def _access(name: str) -> Reading:
    return read_access_log(name, (LOGS / name).read_text().splitlines())


def test_the_audit_log_gives_each_identity_and_host_port_requested() -> None:
    reading = _audit("audit.log")
    assert set(reading.needs) == {
        Need("shop", "checkout", "api.stripe.com", 443),
        Need("shop", "checkout", "api.paypal.com", 443),
        Need("data", "exporter", "bigquery.googleapis.com", 443),
        Need("data", "exporter", "pastebin.com", 443),
        Need("shop", "notifier", "hooks.slack.com", 8443),
        Need("ci", "builder", "github.com", 443),
        Need("ci", "builder", "raw.githubusercontent.com", 443),
        Need("shop", "web", "db.shop.svc.cluster.local", 5432),
    }
    # mutate and validate log the same request: one uid, two lines.
    paypal = reading.needs[Need("shop", "checkout", "api.paypal.com", 443)]
    assert (paypal.first, paypal.requests, paypal.gateway_lines) == (
        "audit.log:2", {"7f1c0a4e-0001"}, 0)
    assert reading.skipped == []
    assert reading.ignored == {
        "the webhook's operational log lines": 2,
        "lines of other kinds than pods and pod templates": 1,
        "pods that requested nothing": 1,
    }
    assert reading.lines == 10


@pytest.mark.parametrize(("line", "reason"), [
    (2, "requested entry 'API.evil.com:443' is not a normalised host:port"),
    (3, "the namespace '../../etc' is not a DNS-1123 label"),
    (4, "requested must be a list of host:port strings"),
    (5, "a pod line without serviceAccount and requested"),
    (6, "no requested field: written while the webhook had no rules loaded"),
    (7, "not JSON, and not an operational log line"),
    (8, "JSON, but not an object"),
    (9, "not JSON, and not an operational log line"),
])
def test_a_malformed_audit_line_is_skipped_whole_with_its_reason(line: int, reason: str) -> None:
    reading = _audit("malformed-audit.log")
    skipped = {s.where: s.reason for s in reading.skipped}
    assert skipped[f"malformed-audit.log:{line}"].startswith(reason)


def test_nothing_is_taken_from_malformed_audit_lines() -> None:
    reading = _audit("malformed-audit.log")
    assert list(reading.needs) == [Need("shop", "checkout", "api.paypal.com", 443)]
    assert len(reading.skipped) == reading.skipped_lines == 8


def test_istio_text_lines_give_the_outbound_cluster_and_the_client_address() -> None:
    reading = _access("istio-text.log")
    assert reading.needs == {}  # the default format names no identity
    assert reading.unattributed == {
        Unattributed("api.paypal.com", 443, "10.8.2.17"): 1,
        Unattributed("status.partner.example", 80, "10.8.2.17"): 1,
    }
    assert reading.protocols == {("api.paypal.com", 443): {"TLS"},
                                 ("status.partner.example", 80): {"HTTP"}}
    assert reading.ignored == {
        "the proxies' own log lines": 2,
        "TLS connections routed nowhere (no upstream cluster, so no port)": 1,
    }
    assert [(s.where, s.reason) for s in reading.skipped] == [
        ("istio-text.log:6", "upstream cluster 'weird-cluster' is neither Istio's nor known")]


def test_istio_json_lines_with_a_spiffe_id_name_the_identity() -> None:
    reading = _access("istio-json.log")
    assert {need: (e.first, e.gateway_lines) for need, e in reading.needs.items()} == {
        Need("payments", "payouts", "api.wise.com", 443): ("istio-json.log:2", 1),
        Need("payments", "payouts", "files.example-cdn.com", 8080): ("istio-json.log:3", 1),
    }
    assert reading.unattributed == {Unattributed("api.paypal.com", 443, "10.8.2.17"): 1}
    assert reading.protocols[("files.example-cdn.com", 8080)] == {"HTTP"}
    reasons = [s.reason for s in reading.skipped]
    assert reasons[0].startswith("downstream_peer_uri_san 'spiffe://cluster.local/ns/../sa/x'")
    assert reasons[1] == ("JSON without Istio's access-log keys (start_time, upstream_cluster "
                          "or upstream_host)")


def test_envoy_default_lines_of_a_per_destination_envoy_give_the_http_host() -> None:
    reading = _access("envoy.log")
    # The pod dialled port 80 (no port in Host); the upstream's 443 is TLS origination.
    assert reading.unattributed == {
        Unattributed("orders.partner.example", 80, "an unlogged address"): 1}
    assert reading.ignored == {
        "the proxies' own log lines": 1,
        "lines that name no host (TCP, or TLS logged without the SNI)": 1,
    }
    assert reading.skipped == []


@pytest.mark.parametrize("line", [
    'GET / HTTP/1.1 200',
    '[2026-12-01T09:01:00.000Z] "- - -" 0 - - - "-" 1204',
    '{"start_time": "t", "authority": "a.example", "upstream_cluster": "outbound|443|x"}',
    '{"start_time": "t", "upstream_cluster": "outbound|99999||a.example"}',
    '{"start_time":"t","authority":"a.example","upstream_cluster":"outbound|443||a.example",'
    '"downstream_peer_uri_san":"spiffe://td/ns/shop"}',
    '{"authority": "a.example", "upstream_cluster": "outbound|443||a.example"}',
])
def test_an_unreadable_access_line_is_skipped(line: str) -> None:
    reading = read_access_log("x.log", [line])
    assert reading.skipped_lines == 1 and reading.needs == {} and not reading.unattributed


def test_a_waypoints_cluster_names_the_destination_too() -> None:
    line = ('{"start_time":"t","authority":null,"requested_server_name":"api.wise.com",'
            '"upstream_cluster":"inbound-vip|443|tcp|api.wise.com",'
            '"downstream_peer_uri_san":"spiffe://cluster.local/ns/payments/sa/payouts"}')
    reading = read_access_log("waypoint.log", [line])
    assert list(reading.needs) == [Need("payments", "payouts", "api.wise.com", 443)]
    assert reading.protocols == {("api.wise.com", 443): {"TLS"}}


def test_traffic_to_an_ip_address_proposes_nothing() -> None:
    line = ('{"start_time":"t","authority":"203.0.113.9:443",'
            '"upstream_cluster":"PassthroughCluster",'
            '"downstream_local_address":"203.0.113.9:443",'
            '"downstream_peer_uri_san":"spiffe://td/ns/shop/sa/web"}')
    reading = read_access_log("x.log", [line])
    assert reading.needs == {} and reading.skipped == []
    assert reading.ignored == {"traffic to an IP address, which no Destination can name": 1}


def test_a_long_log_keeps_counts_not_lines() -> None:
    line = ('{{"webhook":"validate","uid":"u-{0}","kind":"Pod","group":"","namespace":"shop",'
            '"serviceAccount":"web","requested":["api.example.com:443"]}}')
    lines = [line.format(i) for i in range(3000)] + ["garbage"] * 1500
    reading = read_audit_log("big.log", lines)
    (evidence,) = reading.needs.values()
    assert len(evidence.requests) == 1000 and evidence.first == "big.log:1"
    assert evidence.describe() == "requested in 1000+ admission request(s), first at big.log:1"
    assert reading.skipped_lines == 1500 and len(reading.skipped) == 1000


def test_requested_entries_the_webhook_left_out_of_a_long_line_are_counted() -> None:
    line = ('{"webhook":"validate","uid":"u1","kind":"Pod","group":"","namespace":"shop",'
            '"name":"many","operation":"CREATE","serviceAccount":"many",'
            '"requested":["api.stripe.com:443"],"requestedOmitted":41}')
    reading = read_audit_log("long.log", [line])
    assert set(reading.needs) == {Need("shop", "many", "api.stripe.com", 443)}
    assert reading.ignored == {"requested entries the webhook left out of long lines": 41}
