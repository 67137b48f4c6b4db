"""The review core on Policies built in code: no files, no git, no clock.

The CLI tests cover each kind of change end to end; these pin the rules of judgement that
are easy to get subtly wrong — what counts as widening for exceptions and config.yaml, and
that the package stays as pure as the engine.
"""

from __future__ import annotations

import ast
import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import webhook.review
from webhook.model.rules import (
    Access,
    Config,
    Destination,
    Gateway,
    Grant,
    Mode,
    Policy,
    PolicyException,
    Port,
    TrustedPrincipals,
)
from webhook.review import (
    EVERYONE,
    Direction,
    Principal,
    Reach,
    diff_policies,
    effective_access,
    risk_flags,
)
from webhook.review.access import host_patterns
from webhook.review.diff_json import diff_as_json
from webhook.review.markdown import MAX_ROWS, render_markdown

NOW = datetime(2027, 1, 10, tzinfo=UTC)
CONFIG = Config(gateways=(Gateway("egress", "istio-egress", {"istio": "egressgateway"}),))
GITHUB = Destination("github", ("github.com",), (Port(443, "HTTPS"),), "egress")
WAIVER = PolicyException("vpn", "legacy", frozenset({"net-capability"}), date(2027, 3, 31), "vpn")


def policy(
    *,
    config: Config = CONFIG,
    grants: tuple[Grant, ...] = (),
    exceptions: tuple[PolicyException, ...] = (),
    destinations: tuple[Destination, ...] = (GITHUB,),
) -> Policy:
    return Policy.build(
        config=config, destinations=destinations, grants=grants, exceptions=exceptions
    )


def grant(namespace: str, expires: date | None = None) -> Grant:
    return Grant(namespace, "app", "github.com", 443, "github", expires=expires)


def test_identical_policies_differ_in_nothing() -> None:
    same = policy(grants=(grant("ci"),), exceptions=(WAIVER,))
    diff = diff_policies(same, same, now=NOW)
    assert diff.unchanged
    assert not diff.widens


def test_effective_access_of_identities_includes_open_destinations() -> None:
    pypi = Destination("pypi", ("pypi.org",), (Port(443, "HTTPS"),), "egress", Access.OPEN)
    access = effective_access(policy(grants=(grant("ci"),), destinations=(GITHUB, pypi)), now=NOW)
    assert set(access[EVERYONE]) == {Reach("pypi.org", 443)}
    assert set(access[Principal("ci", "app")]) == {Reach("pypi.org", 443), Reach("github.com", 443)}


@pytest.mark.parametrize(
    ("before", "after", "widens"),
    [
        (None, WAIVER, True),
        (WAIVER, None, False),
        (WAIVER, dataclasses.replace(WAIVER, service_account=None), True),
        (dataclasses.replace(WAIVER, service_account=None), WAIVER, False),
        (WAIVER, dataclasses.replace(WAIVER, codes=WAIVER.codes | {"privileged"}), True),
        (WAIVER, dataclasses.replace(WAIVER, expires=date(2027, 6, 30)), False),
        (dataclasses.replace(WAIVER, expires=date(2026, 1, 1)), WAIVER, True),
        (None, dataclasses.replace(WAIVER, expires=date(2026, 1, 1)), False),
        (WAIVER, dataclasses.replace(WAIVER, reason="new words"), False),
    ],
    ids=[
        "added",
        "removed",
        "whole-namespace",
        "narrowed-to-one-account",
        "more-codes",
        "extended-while-active",
        "renewed-after-expiry",
        "added-already-expired",
        "reason-only",
    ],
)
def test_an_exception_widens_when_it_waives_more_at_now(
    before: PolicyException | None, after: PolicyException | None, widens: bool
) -> None:
    base = policy(exceptions=(before,) if before else ())
    head = policy(exceptions=(after,) if after else ())
    (change,) = diff_policies(base, head, now=NOW).exceptions
    assert change.widens is widens
    assert diff_policies(base, head, now=NOW).widens is widens


@pytest.mark.parametrize(
    ("after", "setting", "widens"),
    [
        (dataclasses.replace(CONFIG, default_mode=Mode.WARN), "defaultMode", True),
        (
            dataclasses.replace(CONFIG, trusted=TrustedPrincipals(users=frozenset({"mallory"}))),
            "trustedPrincipals.users",
            True,
        ),
        (
            dataclasses.replace(CONFIG, allowed_nameservers=frozenset({"8.8.8.8"})),
            "dns.allowedNameservers",
            True,
        ),
        (
            dataclasses.replace(CONFIG, exempt_namespaces=frozenset({"kube-system"})),
            "exemptNamespaces",
            False,
        ),
        (dataclasses.replace(CONFIG, label_prefix="egress.example.com"), "labelPrefix", False),
    ],
    ids=["warn-mode", "trusted-user", "nameserver", "fewer-exempt", "label-prefix"],
)
def test_config_changes_that_loosen_egressguard_widen(
    after: Config, setting: str, widens: bool
) -> None:
    diff = diff_policies(policy(), policy(config=after), now=NOW)
    (change,) = diff.settings
    assert (change.setting, change.widens, diff.widens) == (setting, widens, widens)
    assert any(f.kind == "config" for f in risk_flags(diff)) is widens


def test_a_huge_change_is_cut_short_in_markdown_for_a_pr_comment() -> None:
    grants = tuple(grant(f"team{n}") for n in range(MAX_ROWS + 5))
    out = render_markdown(
        diff_policies(policy(), policy(grants=grants), now=NOW), base="a", head="b"
    )
    assert out.count("| gains |") == MAX_ROWS
    assert "5 more rows: run `egressguard diff -o json`" in out


def test_the_review_package_imports_only_the_model_and_the_engine() -> None:
    """Like the engine, review is pure: the CLI reads files and git, review only compares."""
    allowed = ("webhook.model", "webhook.engine", "webhook.review")
    stdlib = {"__future__", "collections", "dataclasses", "datetime", "enum", "typing"}
    package = Path(webhook.review.__file__).parent
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.startswith(allowed) or name.split(".")[0] in stdlib, (
                    f"{module.name} imports {name}"
                )


# --- the access table against a naive oracle --------------------------------------------------

POOL = ("a.example.com", "b.example.com", "*.example.com", "x.a.example.com", "*.a.example.com")
IDENTITIES = (("ns1", "a"), ("ns2", "b"), ("ns3", "c"))
EXPIRIES = (None, date(2026, 1, 1), date(2028, 1, 1))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Up to three destinations sharing a pool of exact and wildcard hosts, and some grants."""
    owners = draw(st.lists(st.sampled_from((None, 0, 1, 2)), min_size=5, max_size=5))
    destinations = []
    for index in range(3):
        hosts = tuple(h for h, o in zip(POOL, owners, strict=True) if o == index)
        if not hosts:
            continue
        ports = draw(st.sets(st.sampled_from((443, 80)), min_size=1))
        destinations.append(
            Destination(
                f"d{index}",
                hosts,
                tuple(Port(p, "TCP") for p in sorted(ports)),
                "egress",
                draw(st.sampled_from(tuple(Access))),
            )
        )
    grants = {}
    for identity in draw(st.lists(st.sampled_from(IDENTITIES), max_size=4)):
        if destinations:
            d = draw(st.sampled_from(destinations))
            grant = Grant(*identity, d.hosts[0], d.ports[0].number, d.name)
            grants[(identity, d.name)] = dataclasses.replace(
                grant, expires=draw(st.sampled_from(EXPIRIES))
            )
    return policy(destinations=tuple(destinations), grants=tuple(grants.values()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=policies(), head=policies())
def test_the_access_table_is_the_difference_of_effective_access(base: Policy, head: Policy) -> None:
    """Every principal's rows add up to what it reaches after minus before; open gains once."""
    patterns = host_patterns(base, head)  # the names either side's destinations list
    identities = [Principal(*i) for i in IDENTITIES]
    before = effective_access(base, now=NOW, patterns=patterns, identities=identities)
    after = effective_access(head, now=NOW, patterns=patterns, identities=identities)
    everyone_gains = after[EVERYONE].keys() - before[EVERYONE].keys()
    everyone_loses = before[EVERYONE].keys() - after[EVERYONE].keys()
    diff = diff_policies(base, head, now=NOW)
    for principal in [EVERYONE, *identities]:
        reported: dict[Direction, set[Reach]] = {d: set() for d in Direction}
        for change in diff.access:
            if change.principal == principal:
                reported[change.direction].update(change.reaches)
        gains = after[principal].keys() - before[principal].keys()
        losses = before[principal].keys() - after[principal].keys()
        if not principal.is_everyone:
            gains -= everyone_gains
            losses -= everyone_loses
        assert reported[Direction.GAINS] == gains, principal
        assert reported[Direction.LOSES] == losses, principal
    assert diff.widens is (
        any(c.widens for c in diff.access) or any(c.widens for c in diff.destinations)
    )


def test_every_kind_of_change_renders_in_markdown_and_json() -> None:
    """One diff with a change of each kind: nothing is left out, nothing crashes."""
    partner = Destination(
        "partner",
        ("orders.partner.example",),
        (Port(80, "HTTP"),),
        "egress",
        tls_origination=True,
        block_body_patterns=("AKIA", "BEGIN RSA"),
    )
    payments = Gateway("payments", "payments-egress", {"istio": "payments"})
    base = policy(
        destinations=(GITHUB, partner),
        grants=(grant("ci"), Grant("shop", "app", "orders.partner.example", 80, "partner")),
        exceptions=(WAIVER,),
    )
    head = policy(
        config=dataclasses.replace(
            CONFIG,
            gateways=(Gateway("egress", "istio-egress", {"istio": "egress-v2"}), payments),
            default_mode=Mode.WARN,
        ),
        destinations=(
            dataclasses.replace(GITHUB, ports=(Port(443, "TCP"),), gateway="payments"),
            dataclasses.replace(partner, tls_origination=False, block_body_patterns=("AKIA",)),
            Destination("pypi", ("pypi.org",), (Port(443, "HTTPS"),), "egress", Access.OPEN),
        ),
        grants=(dataclasses.replace(grant("ci"), reason="now with a reason"),),
        exceptions=(dataclasses.replace(WAIVER, name="vpn2"),),
    )
    diff = diff_policies(base, head, now=NOW)
    out = render_markdown(diff, base="main", head="HEAD")
    for fragment in (
        "**Access widens**",
        "**open-access**: destination pypi is now open",
        "**dlp**: destination partner no longer refuses request bodies containing 'BEGIN RSA'",
        "destination github moves from gateway egress to gateway payments",
        "gateway egress: selector {istio=egressgateway} -> {istio=egress-v2}",
        "gateway payments: added (namespace payments-egress, selector {istio=payments})",
        "config.yaml defaultMode: enforce -> warn",
        "port 443: HTTPS -> TCP",
        "tlsOrigination off",
        "`pypi` added (open, gateway egress): pypi.org on 443/HTTPS",
        "`vpn` removed: it waived net-capability",
        "`vpn2` added: waives net-capability",
        "changed `services/ci/app/github.com:443.rule` (github) (was: no reason): now with a",
        "removed `services/shop/app/orders.partner.example:80.rule` (partner)",
        "| `shop/app` | loses | `partner` | `orders.partner.example:80` | grant removed: ",
    ):
        assert fragment in out, fragment
    data = diff_as_json(diff)
    assert data["widens"] is True
    assert {r["kind"] for r in data["risks"]} == {"open-access", "dlp", "gateway", "config"}
