"""``egressguard explain`` on the example rules: both questions, in text and JSON.

"What may shop/checkout reach?" and "who may reach bigquery.googleapis.com?" are answered
with the files that decide, so the answer is also what to change.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.review.conftest import NOW, Cli
from tests.review.gitrepo import EXAMPLE, GitRules

RULES = str(EXAMPLE)


def explain(cli: Cli, *args: str) -> str:
    run = cli("explain", "--rules", RULES, "--now", NOW, *args)
    assert run.code == 0, run.err
    return run.out


def explain_json(cli: Cli, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(explain(cli, *args, "-o", "json"))
    return data


# --- an identity ------------------------------------------------------------------------------


def test_an_identity_reaches_its_destinations_through_named_grant_files(cli: Cli) -> None:
    out = explain(cli, "--identity", "shop/checkout")
    lines = out.splitlines()
    assert lines[0] == "at 2027-01-10 00:00 UTC, shop/checkout is granted:"
    stripe = lines.index(next(line for line in lines if line.startswith("  stripe ")))
    assert lines[stripe].startswith("  stripe (restricted, gateway payments-egressgateway, ")
    assert lines[stripe + 1 : stripe + 3] == ["    hosts: api.stripe.com", "    ports: 443/HTTPS"]
    assert lines[stripe + 3] == (
        f"    via {RULES}/services/shop/checkout/api.stripe.com:443.rule: "
        "'Checkout charges cards through Stripe (PAY-112).' (no expiry)"
    )


def test_an_identity_may_request_the_open_destinations(cli: Cli) -> None:
    data = explain_json(cli, "--identity", "shop/checkout")
    assert [r["destination"] for r in data["granted"]] == ["partner-api", "stripe"]
    assert [r["destination"] for r in data["open"]] == ["pypi"]
    assert "via open access: any pod that requests it in egressguard.io/egress" in explain(
        cli, "--identity", "shop/checkout"
    )


def test_an_expired_grant_is_shown_as_granting_nothing(cli: Cli) -> None:
    data = explain_json(cli, "--identity", "shop/notifier")
    assert data["granted"] == []
    assert [g["expires"] for g in data["expired"]] == ["2026-01-31"]
    assert "expired grants, which grant nothing:" in explain(cli, "--identity", "shop/notifier")


def test_a_wildcard_grant_names_what_a_more_specific_destination_takes(cli: Cli) -> None:
    (googleapis,) = explain_json(cli, "--identity", "data/exporter")["granted"]
    assert googleapis["hosts"] == ["*.googleapis.com"]
    assert googleapis["except"] == [{"host": "storage.googleapis.com", "destination": "gcs"}]


def test_an_identity_with_no_grant_still_may_request_open_destinations(cli: Cli) -> None:
    out = explain(cli, "--identity", "web/frontend")
    assert out.startswith("at 2027-01-10 00:00 UTC, web/frontend has no active grant\n")
    assert "  pypi (open," in out


def test_exceptions_for_the_identity_are_listed(cli: Cli) -> None:
    out = explain(cli, "--identity", "legacy/vpn-client")
    assert "legacy-vpn (" in out
    assert "waives net-capability for pods of legacy/vpn-client until 2027-03-31" in out


def test_an_exempt_namespace_is_said_to_be_unjudged(cli: Cli) -> None:
    out = explain(cli, "--identity", "kube-system/coredns")
    assert out.startswith("namespace kube-system is exempt")


# --- a host -----------------------------------------------------------------------------------


def test_a_host_under_a_wildcard_names_the_wildcard_and_every_grantee(cli: Cli) -> None:
    out = explain(cli, "--host", "bigquery.googleapis.com")
    assert out.splitlines()[0].startswith("bigquery.googleapis.com is in destination googleapis")
    assert "chosen by wildcard *.googleapis.com: no exact host or longer wildcard" in out
    assert (
        f"data/exporter via {RULES}/services/data/exporter/bigquery.googleapis.com:443.rule" in out
    )
    data = explain_json(cli, "--host", "bigquery.googleapis.com:443")
    assert data["match"] == {"pattern": "*.googleapis.com", "how": "wildcard"}
    assert [g["identity"] for g in data["destination"]["grants"]] == ["data/exporter"]


def test_an_exact_host_wins_over_a_wildcard_and_says_so(cli: Cli) -> None:
    out = explain(cli, "--host", "Storage.GoogleAPIs.com.:443")
    assert out.splitlines()[0].startswith("storage.googleapis.com:443 is in destination gcs")
    assert "chosen by exact host storage.googleapis.com, more specific than *.googleapis.com" in out
    assert "ci/builder via " in out


def test_an_open_host_is_reachable_by_any_pod_that_requests_it(cli: Cli) -> None:
    out = explain(cli, "--host", "pypi.org:443")
    assert "open access: any pod that requests it in egressguard.io/egress" in out


def test_a_restricted_host_lists_its_expired_grants_apart(cli: Cli) -> None:
    data = explain_json(cli, "--host", "hooks.slack.com")
    assert [g["identity"] for g in data["destination"]["grants"]] == ["shop/default"]
    assert [g["identity"] for g in data["expired"]] == ["shop/notifier"]


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("example.org", "example.org: no destination covers it"),
        ("googleapis.com:443", "googleapis.com:443: no destination covers it"),
        ("pypi.org:80", "port 80 is not listed: no pod may reach pypi.org:80"),
    ],
    ids=["uncovered", "wildcard-does-not-cover-its-apex", "port-not-listed"],
)
def test_a_host_no_pod_may_reach_says_why(cli: Cli, host: str, fragment: str) -> None:
    assert fragment in explain(cli, "--host", host)


# --- usage ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--identity", "checkout"],
        ["--identity", "Shop/checkout"],
        ["--host", "api.stripe.com:https"],
        ["--identity", "shop/checkout", "--host", "pypi.org"],
        [],
    ],
    ids=["no-slash", "not-dns", "bad-port", "both", "neither"],
)
def test_usage_errors_exit_2(cli: Cli, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli("explain", "--rules", RULES, *argv)
    assert raised.value.code == 2


def test_rules_that_do_not_load_exit_2(repo: GitRules, cli: Cli) -> None:
    repo.write("services/shop/checkout/nowhere.example:443.rule", "")
    run = cli("explain", "--rules", ".", "--identity", "shop/checkout")
    assert run.code == 2
    assert "services/shop/checkout/nowhere.example:443.rule:1: error:" in run.err


def test_rules_may_be_a_git_revision(repo: GitRules, cli: Cli) -> None:
    repo.write("services/shop/checkout/github.com:443.rule", "").commit("github for checkout")
    run = cli("explain", "--rules", "main~1", "--identity", "shop/checkout", "--now", NOW)
    assert "github" not in run.out
    run = cli("explain", "--rules", "main", "--identity", "shop/checkout", "--now", NOW)
    assert "    via main:services/shop/checkout/github.com:443.rule: no reason given" in run.out
