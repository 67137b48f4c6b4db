"""Proposals: exactly the Destinations, ports and grants that admit what was seen."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from webhook.learn import propose
from webhook.learn.observations import Evidence, Need
from webhook.learn.proposal import destination_name, protocol_for
from webhook.loader import load_repository
from webhook.model.rules import Policy, Port

RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime(2026, 12, 4, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_repository(RULES).policy


def _seen(*needs: Need) -> dict[Need, Evidence]:
    return {need: Evidence(f"audit.log:{i}", {f"uid-{i}"}) for i, need in enumerate(needs, 1)}


def test_a_host_no_destination_covers_gets_a_restricted_destination_and_a_grant(
    policy: Policy,
) -> None:
    proposal = propose(policy, _seen(Need("shop", "checkout", "api.paypal.com", 443)),
                       now=NOW, protocols={})
    (new,) = proposal.destinations
    assert (new.name, new.host, new.ports) == ("api-paypal-com", "api.paypal.com",
                                               (Port(443, "HTTPS"),))
    assert "443/HTTPS from the port number" in new.description
    (grant,) = proposal.grants
    assert grant.file == "services/shop/checkout/api.paypal.com:443.rule"
    assert grant.reason == ("Proposed by egressguard learn: requested in 1 admission "
                            "request(s), first at audit.log:1.")
    assert proposal.ports_added == {} and proposal.left_out == []


def test_ports_of_one_host_share_its_destination_with_protocols_from_the_gateway(
    policy: Policy,
) -> None:
    seen = _seen(Need("ci", "builder", "git.example.org", 22),
                 Need("ci", "builder", "git.example.org", 443),
                 Need("ci", "runner", "git.example.org", 9418))
    protocols = {("git.example.org", 443): {"TLS"}, ("git.example.org", 9418): {"TCP"}}
    proposal = propose(policy, seen, now=NOW, protocols=protocols)
    (new,) = proposal.destinations
    assert new.ports == (Port(22, "TCP"), Port(443, "HTTPS"), Port(9418, "TCP"))
    assert [g.file for g in proposal.grants] == [
        "services/ci/builder/git.example.org:22.rule",
        "services/ci/builder/git.example.org:443.rule",
        "services/ci/runner/git.example.org:9418.rule",
    ]


def test_what_the_rules_admit_already_is_not_proposed(policy: Policy) -> None:
    seen = _seen(Need("shop", "checkout", "api.stripe.com", 443),
                 Need("ci", "builder", "api.github.com", 443),  # same destination as its grant
                 Need("shop", "web", "pypi.org", 443))  # open
    proposal = propose(policy, seen, now=NOW, protocols={})
    assert proposal.empty and proposal.admitted_already == 3


def test_a_grantee_missing_a_port_gets_the_port_and_no_second_grant(policy: Policy) -> None:
    proposal = propose(policy, _seen(Need("ci", "builder", "github.com", 8443)), now=NOW,
                       protocols={})
    assert proposal.ports_added == {"github": [Port(8443, "TCP")]}
    assert proposal.grants == [] and proposal.destinations == []


def test_a_host_under_a_wildcard_destination_is_granted_that_destination(
    policy: Policy,
) -> None:
    proposal = propose(policy, _seen(Need("shop", "web", "translate.googleapis.com", 443)),
                       now=NOW, protocols={})
    assert proposal.destinations == [] and proposal.ports_added == {}
    assert [g.file for g in proposal.grants] == [
        "services/shop/web/translate.googleapis.com:443.rule"]


def test_local_names_names_no_destination_holds_and_expired_grants_are_left_out(
    policy: Policy,
) -> None:
    seen = _seen(Need("shop", "web", "db.shop.svc.cluster.local", 5432),
                 Need("shop", "web", "redis", 6379),
                 Need("shop", "notifier", "hooks.slack.com", 443),
                 Need("shop", "web", "_dmarc.example.com", 443))
    proposal = propose(policy, seen, now=NOW, protocols={})
    assert proposal.empty
    reasons = {need.host: why for need, why in proposal.left_out}
    assert reasons["db.shop.svc.cluster.local"].startswith("a cluster-local name")
    assert reasons["redis"].startswith("a cluster-local name")
    assert reasons["hooks.slack.com"].startswith("its grant expired")
    assert reasons["_dmarc.example.com"].startswith("no Destination can hold it: ")


def test_hosts_anyone_can_publish_on_are_marked(policy: Policy) -> None:
    proposal = propose(policy, _seen(Need("ci", "builder", "raw.githubusercontent.com", 443)),
                       now=NOW, protocols={})
    (new,) = proposal.destinations
    assert new.controlled is not None and new.controlled.reason.startswith("code hosting")
    assert proposal.grants[0].controlled == new.controlled


def test_destination_names_are_labels_that_fit_and_do_not_collide() -> None:
    assert destination_name("api.stripe.com", {"api-stripe-com"}) == "api-stripe-com-2"
    long = destination_name("a" * 60 + ".example.com", set())
    assert len(long) <= 57 and long[-7] == "-"
    assert destination_name("_dmarc.example.com", set()) == "dmarc-example-com"


@pytest.mark.parametrize(("port", "seen", "protocol"), [
    (443, set(), "HTTPS"), (80, set(), "HTTP"), (5432, set(), "TCP"),
    (8443, {"TLS"}, "TLS"), (443, {"TLS"}, "HTTPS"), (8080, {"HTTP"}, "HTTP"),
    (443, {"HTTP", "TLS"}, "HTTPS"), (9000, {"HTTP", "TCP"}, "TCP"),
])
def test_the_protocol_comes_from_the_gateway_else_the_port(
    port: int, seen: set[str], protocol: str,
) -> None:
    assert protocol_for(port, seen)[0] == protocol
