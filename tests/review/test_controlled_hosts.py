"""Hosts anyone can publish on are flagged when someone gains them, as Monzo flags them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from webhook.loader import load_repository
from webhook.model.rules import Access, Grant, Policy
from webhook.review import RiskKind, diff_policies, risk_flags
from webhook.review.controlled_hosts import Control, attacker_control

RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime(2027, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(("host", "control", "covers"), [
    ("github.com", Control.CODE_HOSTING, False),
    ("raw.githubusercontent.com", Control.CODE_HOSTING, False),
    ("Pastebin.com.", Control.PASTE, False),
    ("my-bucket.s3.eu-west-1.amazonaws.com", Control.OBJECT_STORAGE, False),
    ("s3-us-west-2.amazonaws.com", Control.OBJECT_STORAGE, False),
    ("storage.googleapis.com", Control.OBJECT_STORAGE, False),
    ("bit.ly", Control.URL_SHORTENER, False),
    ("dl.dropboxusercontent.com", Control.FILE_SHARING, False),
    ("abc.ngrok-free.app", Control.TUNNEL, False),
    ("*.github.com", Control.CODE_HOSTING, False),
    ("*.googleapis.com", Control.OBJECT_STORAGE, True),
    ("*.amazonaws.com", Control.OBJECT_STORAGE, True),
])
def test_a_host_anyone_can_publish_on_is_recognised(
    host: str, control: Control, covers: bool,
) -> None:
    found = attacker_control(host)
    assert found is not None and (found.control, found.covers) == (control, covers)


@pytest.mark.parametrize("host", [
    "api.stripe.com", "notgithub.com", "sts.amazonaws.com", "bigquery.googleapis.com",
    "github.com.evil.example",
])
def test_other_hosts_are_not(host: str) -> None:
    assert attacker_control(host) is None


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_repository(RULES).policy


def _with_grant(policy: Policy, namespace: str, account: str, host: str) -> Policy:
    destination = policy.destination_for(host)
    assert destination is not None
    grant = Grant(namespace=namespace, service_account=account, host=host, port=443,
                  destination=destination.name)
    return Policy.build(config=policy.config, destinations=tuple(policy.destinations.values()),
                        grants=(*policy.grants, grant), exceptions=policy.exceptions)


def test_a_new_grantee_of_code_hosting_is_flagged_by_name(policy: Policy) -> None:
    head = _with_grant(policy, "shop", "web", "github.com")
    flags = [f for f in risk_flags(diff_policies(policy, head, now=NOW))
             if f.kind is RiskKind.ATTACKER_CONTROLLED]
    assert [f.message for f in flags] == [
        "api.github.com:22,443 gives an attacker control (code hosting: anyone can publish "
        "repositories, raw files and releases there); gained by shop/web: grant it only to the "
        "service accounts that need it",
        "github.com:22,443 gives an attacker control (code hosting: anyone can publish "
        "repositories, raw files and releases there); gained by shop/web: grant it only to the "
        "service accounts that need it",
    ]


def test_opening_object_storage_to_every_pod_is_flagged(policy: Policy) -> None:
    gcs = dataclasses.replace(policy.destinations["gcs"], access=Access.OPEN)
    head = Policy.build(config=policy.config,
                        destinations=(*(d for d in policy.destinations.values()
                                        if d.name != "gcs"), gcs),
                        grants=policy.grants, exceptions=policy.exceptions)
    messages = [f.message for f in risk_flags(diff_policies(policy, head, now=NOW))
                if f.kind is RiskKind.ATTACKER_CONTROLLED]
    assert messages == [
        "storage.googleapis.com:443 gives an attacker control (object storage: anyone can "
        "create a bucket there and read or write it); any pod that requests it gains it: keep "
        "such a destination restricted"]


def test_no_flag_when_nobody_gains(policy: Policy) -> None:
    assert not [f for f in risk_flags(diff_policies(policy, policy, now=NOW))
                if f.kind is RiskKind.ATTACKER_CONTROLLED]
