"""``egressguard diff``: one test per kind of rules change, on a git repository built here.

Each test commits one change on top of the example rules and compares ``main~1`` with
``main`` as CI compares a pull request's base and head. Expectations are written as a
reviewer reads the PR comment: who gains or loses which host:port, and why.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from tests.review.conftest import NOW, Cli
from tests.review.gitrepo import GitRules

Row = tuple[str, str, str, tuple[str, ...], str]

DEBUG_SHELL = textwrap.dedent(
    """\
    apiVersion: egressguard.io/v1alpha1
    kind: Exception
    metadata:
      name: debug-shell
    spec:
      namespace: shop
      codes: [privileged, host-network]
      reason: Incident INC-9 debugging.
      expires: {expires}
    """
)


def diff(cli: Cli, base: str = "main~1", head: str = "main") -> dict[str, Any]:
    run = cli("diff", base, head, "-o", "json", "--now", NOW)
    assert run.code == 0, run.err
    data: dict[str, Any] = json.loads(run.out)
    return data


def markdown(cli: Cli, base: str = "main~1", head: str = "main") -> str:
    run = cli("diff", base, head, "--now", NOW)
    assert run.code == 0, run.err
    return run.out


def rows(data: dict[str, Any]) -> list[Row]:
    return [
        (r["principal"], r["change"], r["destination"], tuple(r["reaches"]), r["why"])
        for r in data["access"]
    ]


def risks(data: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for risk in data["risks"]:
        found.setdefault(risk["kind"], []).append(risk["message"])
    return found


# --- grants -----------------------------------------------------------------------------------


def test_a_grant_added_gives_its_identity_the_whole_destination(repo: GitRules, cli: Cli) -> None:
    repo.write("services/shop/checkout/github.com:443.rule", "reason: Release notes.\n")
    repo.commit("checkout reads GitHub")
    data = diff(cli)
    assert rows(data) == [
        (
            "shop/checkout",
            "gains",
            "github",
            ("api.github.com:22", "api.github.com:443", "github.com:22", "github.com:443"),
            "grant added: services/shop/checkout/github.com:443.rule",
        )
    ]
    assert data["widens"] is True
    assert "| `shop/checkout` | gains | `github` |" in markdown(cli)


def test_a_grant_removed_takes_the_destination_away(repo: GitRules, cli: Cli) -> None:
    repo.remove("services/shop/checkout/api.stripe.com:443.rule").commit("no more Stripe")
    data = diff(cli)
    assert rows(data) == [
        (
            "shop/checkout",
            "loses",
            "stripe",
            ("api.stripe.com:443",),
            "grant removed: services/shop/checkout/api.stripe.com:443.rule",
        )
    ]
    assert data["widens"] is False
    assert markdown(cli).splitlines()[3].startswith("**Access narrows**: 1 identity loses access")


def test_a_second_port_of_a_granted_destination_changes_no_access(repo: GitRules, cli: Cli) -> None:
    """A grant is for the whole destination: the file is listed, the access table is empty."""
    repo.write("services/ci/builder/api.github.com:22.rule", "reason: SSH to the API host.\n")
    repo.commit("one more github grant file")
    data = diff(cli)
    assert data["access"] == []
    assert data["widens"] is False
    assert [g["file"] for g in data["grants"]] == ["services/ci/builder/api.github.com:22.rule"]


def test_an_added_grant_already_expired_counts_for_nothing(repo: GitRules, cli: Cli) -> None:
    repo.write("services/shop/checkout/github.com:443.rule", "reason: Old.\nexpires: 2026-12-31\n")
    repo.commit("a grant that has lapsed already")
    data = diff(cli)
    assert data["access"] == []
    assert data["widens"] is False
    assert "expired 2026-12-31: grants nothing" in markdown(cli)
    assert cli("diff", "main~1", "main", "--now", NOW, "--fail-on", "widen").code == 0


def test_a_renewed_grant_counts_as_a_gain(repo: GitRules, cli: Cli) -> None:
    repo.edit(
        "services/shop/notifier/hooks.slack.com:443.rule",
        "expires: 2026-01-31",
        "expires: 2027-12-31",
    )
    repo.commit("renew the notifier")
    assert rows(diff(cli)) == [
        (
            "shop/notifier",
            "gains",
            "slack",
            ("hooks.slack.com:443",),
            "grant renewed: services/shop/notifier/hooks.slack.com:443.rule "
            "(was expired 2026-01-31)",
        )
    ]


# --- destinations -----------------------------------------------------------------------------


def test_a_host_added_to_a_restricted_destination_lists_every_grantee(
    repo: GitRules, cli: Cli
) -> None:
    repo.write("services/shop/checkout/hooks.slack.com:443.rule", "reason: Payment alerts.\n")
    repo.commit("a second active grantee for slack")
    repo.edit(
        "destinations/slack.yaml",
        "hosts: [hooks.slack.com]",
        "hosts: [hooks.slack.com, files.slack.com]",
    )
    repo.commit("slack: one more host")
    data = diff(cli)
    why = "host files.slack.com added to slack"
    # shop/notifier's grant expired on 2026-01-31: it gains nothing.
    assert rows(data) == [
        ("shop/checkout", "gains", "slack", ("files.slack.com:443",), why),
        ("shop/default", "gains", "slack", ("files.slack.com:443",), why),
    ]
    (flag,) = risks(data)["widened-restricted-destination"]
    assert "slack adds host files.slack.com" in flag
    assert "2 grantees (shop/checkout, shop/default)" in flag
    text = markdown(cli)
    for who in ("shop/checkout", "shop/default"):
        assert f"| `{who}` | gains | `slack` | `files.slack.com:443` | {why} |" in text


def test_a_wildcard_host_added_is_flagged(repo: GitRules, cli: Cli) -> None:
    repo.edit(
        "destinations/stripe.yaml",
        "hosts: [api.stripe.com]",
        'hosts: [api.stripe.com, "*.stripe.com"]',
    )
    repo.commit("all of stripe")
    data = diff(cli)
    assert (
        "shop/checkout",
        "gains",
        "stripe",
        ("*.stripe.com:443",),
        "host *.stripe.com added to stripe",
    ) in rows(data)
    assert "destination stripe adds wildcard *.stripe.com" in risks(data)["wildcard-host"][0]


def test_a_port_added_reaches_every_host_for_every_grantee(repo: GitRules, cli: Cli) -> None:
    repo.edit(
        "destinations/github.yaml",
        "    - {number: 22, protocol: TCP}",
        "    - {number: 22, protocol: TCP}\n    - {number: 9418, protocol: TCP}",
    )
    repo.commit("git protocol")
    data = diff(cli)
    assert rows(data) == [
        (
            "ci/builder",
            "gains",
            "github",
            ("api.github.com:9418", "github.com:9418"),
            "port 9418 added to github",
        )
    ]
    assert "port 9418/TCP" in risks(data)["widened-restricted-destination"][0]


def test_switching_to_open_is_flagged_and_reported_once_for_every_pod(
    repo: GitRules, cli: Cli
) -> None:
    repo.edit(
        "destinations/slack.yaml", "description: Incoming webhooks for alerts.", "access: open"
    )
    repo.commit("slack for everyone")
    data = diff(cli)
    assert rows(data) == [
        ("*", "gains", "slack", ("hooks.slack.com:443",), "slack switched to open access")
    ]
    (flag,) = risks(data)["open-access"]
    assert flag.startswith("destination slack is now open: any pod that requests it reaches")
    text = markdown(cli)
    assert "**open-access**" in text
    assert "| any pod that requests it | gains | `slack` | `hooks.slack.com:443` |" in text
    assert "any pod that requests it gains access" in text.splitlines()[3]


def test_switching_to_restricted_narrows_open_access(repo: GitRules, cli: Cli) -> None:
    repo.edit("destinations/pypi.yaml", "access: open", "access: restricted")
    repo.commit("pypi by grant only")
    data = diff(cli)
    assert rows(data) == [
        (
            "*",
            "loses",
            "pypi",
            ("files.pythonhosted.org:443", "pypi.org:443"),
            "pypi switched to restricted",
        )
    ]
    assert data["widens"] is False


def test_removing_an_exact_destination_hands_its_host_to_the_wildcard(
    repo: GitRules, cli: Cli
) -> None:
    """The change that looks like a clean-up widens: googleapis's grantees now reach GCS."""
    repo.remove("destinations/gcs.yaml").remove(
        "services/ci/builder/storage.googleapis.com:443.rule"
    )
    repo.commit("drop gcs")
    moved = "storage.googleapis.com moved from destination gcs to googleapis"
    assert rows(diff(cli)) == [
        (
            "ci/builder",
            "loses",
            "gcs",
            ("storage.googleapis.com:443",),
            "grant removed: services/ci/builder/storage.googleapis.com:443.rule",
        ),
        ("data/exporter", "gains", "googleapis", ("storage.googleapis.com:443",), moved),
    ]


def test_removing_an_exact_destination_hands_its_grants_to_the_wildcard(
    repo: GitRules, cli: Cli
) -> None:
    """ci/builder's GCS grant now counts for googleapis: it reaches every Google API."""
    repo.remove("destinations/gcs.yaml").commit("drop gcs, keep the grant")
    assert rows(diff(cli)) == [
        (
            "ci/builder",
            "gains",
            "googleapis",
            ("*.googleapis.com:443",),
            "grant services/ci/builder/storage.googleapis.com:443.rule is now for googleapis "
            "(was gcs)",
        ),
        (
            "data/exporter",
            "gains",
            "googleapis",
            ("storage.googleapis.com:443",),
            "storage.googleapis.com moved from destination gcs to googleapis",
        ),
    ]


# --- exceptions and gateways ------------------------------------------------------------------


def test_an_exception_added_is_flagged_with_what_it_waives(repo: GitRules, cli: Cli) -> None:
    repo.write("exceptions/debug-shell.yaml", DEBUG_SHELL.format(expires="2027-02-01"))
    repo.commit("debugging")
    data = diff(cli)
    assert data["access"] == []
    assert data["widens"] is True
    assert risks(data)["exception"] == [
        "exception debug-shell waives host-network, privileged for every object in namespace "
        "shop until 2027-02-01"
    ]
    assert "`debug-shell` added: waives host-network, privileged" in markdown(cli)
    assert cli("diff", "main~1", "main", "--now", NOW, "--fail-on", "widen").code == 1


def test_an_exception_added_already_expired_waives_nothing(repo: GitRules, cli: Cli) -> None:
    repo.write("exceptions/debug-shell.yaml", DEBUG_SHELL.format(expires="2026-12-01"))
    repo.commit("an old waiver")
    data = diff(cli)
    assert data["widens"] is False
    assert "exception" not in risks(data)
    assert "(already expired: waives nothing)" in markdown(cli)


def test_an_exception_removed_narrows_and_says_what_it_waived(repo: GitRules, cli: Cli) -> None:
    repo.remove("exceptions/legacy-vpn.yaml").commit("the VPN is retired")
    data = diff(cli)
    assert (data["widens"], data["risks"]) == (False, [])
    assert (
        "- `legacy-vpn` removed: it waived net-capability for pods of legacy/vpn-client until "
        "2027-03-31" in markdown(cli)
    )


def test_an_exception_widened_to_the_whole_namespace_is_flagged(repo: GitRules, cli: Cli) -> None:
    repo.edit("exceptions/legacy-vpn.yaml", "  serviceAccount: vpn-client\n", "")
    repo.commit("the whole legacy namespace")
    data = diff(cli)
    assert data["widens"] is True
    assert "every object in namespace legacy" in risks(data)["exception"][0]


def test_a_destination_moved_to_another_gateway_is_flagged(repo: GitRules, cli: Cli) -> None:
    repo.edit("destinations/stripe.yaml", "  gateway: payments-egressgateway\n", "")
    repo.commit("stripe through the default gateway")
    data = diff(cli)
    assert data["access"] == []
    assert data["widens"] is False
    assert risks(data)["gateway"] == [
        "destination stripe moves from gateway payments-egressgateway to gateway "
        "istio-egressgateway"
    ]
    assert "gateway payments-egressgateway -> istio-egressgateway" in markdown(cli)


def test_a_gateway_selector_change_is_flagged_with_what_it_carries(
    repo: GitRules, cli: Cli
) -> None:
    repo.edit("config.yaml", "istio: payments-egressgateway", "istio: payments-gw")
    repo.commit("new payments gateway pods")
    data = diff(cli)
    assert risks(data)["gateway"] == [
        "gateway payments-egressgateway: selector {istio=payments-egressgateway} -> "
        "{istio=payments-gw} (carries stripe)"
    ]
    assert "#### Gateways" in markdown(cli)


def test_a_namespace_made_exempt_widens(repo: GitRules, cli: Cli) -> None:
    repo.edit(
        "config.yaml",
        "kube-node-lease, egressguard-system",
        "kube-node-lease, egressguard-system, shop",
    )
    repo.commit("shop is special")
    data = diff(cli)
    assert data["widens"] is True
    assert risks(data)["config"] == ["config.yaml exemptNamespaces adds shop"]
