"""Requests, grants, entitlement labels and the patch, built on a Python copy of rules/."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import jsonpatch
import pytest

from tests.admission import request
from tests.engine.conftest import DEVELOPER, Judge, PodFactory
from tests.example_policy import CONFIG, DESTINATIONS, GRANTS, NOW
from webhook.engine import evaluate
from webhook.engine.entitlement import MAX_REQUEST_ENTRIES, EgressRequest, parse_requests
from webhook.model.rules import Policy

EGRESS = "egressguard.io/egress"


# --- reading the request annotation ----------------------------------------------------


def test_request_entries_ignore_white_space_case_trailing_dots_and_duplicates() -> None:
    parsed = parse_requests(" GitHub.com :443,\tgithub.com.:443 ,, api.stripe.com:443\n")
    assert parsed.valid == (EgressRequest("github.com", 443), EgressRequest("api.stripe.com", 443))
    assert parsed.malformed == ()


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("github.com", "no port"),
        (":443", "no host"),
        ("*.github.com:443", "wildcard"),
        ("*:443", "wildcard"),
        ("github.com:0", "1-65535"),
        ("github.com:65536", "1-65535"),
        ("github.com:https", "1-65535"),
        ("github.com:٤٤٣", "1-65535"),  # Arabic-Indic digits are not a port
        ("https://github.com", "1-65535"),
        ("a:b:443", "not a DNS name"),
        ("[::1]:443", "not a DNS name"),
        ("gith\u00fcb.com:443", "not a DNS name"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_malformed_request_entries_say_why(entry: str, reason: str) -> None:
    parsed = parse_requests(entry)
    assert parsed.valid == ()
    assert len(parsed.malformed) == 1
    assert reason in parsed.malformed[0].reason


def test_an_annotation_of_thousands_of_entries_is_read_only_to_its_bound_and_refused(
    judge: Judge, pod: PodFactory
) -> None:
    """RELIABILITY 29: 130,000 unknown hosts in one dry-run pod once exhausted the memory."""
    hosts = ",".join(f"h{i}.unknown.example:443" for i in range(130_000))
    parsed = parse_requests(hosts)
    assert parsed.too_many and len(parsed.valid) == MAX_REQUEST_ENTRIES
    decision = judge(pod(service_account="checkout", annotations={EGRESS: hosts}))
    assert not decision.allowed
    assert len(decision.violations) <= MAX_REQUEST_ENTRIES + 1
    assert any(f"more than {MAX_REQUEST_ENTRIES} entries" in m for m in decision.messages)
    assert len(decision.summary.encode()) <= 4096


def test_a_short_annotation_is_not_too_many() -> None:
    exactly = ",".join(f"h{i}.example:443" for i in range(MAX_REQUEST_ENTRIES))
    assert not parse_requests(exactly).too_many
    assert parse_requests(exactly + ",one.more:443").too_many


def test_malformed_entry_is_unknown_destination_naming_the_entry(
    judge: Judge, pod: PodFactory
) -> None:
    decision = judge(pod(service_account="checkout", annotations={EGRESS: "api.stripe.com"}))
    assert not decision.allowed
    assert decision.codes == ("unknown-destination",)
    assert "'api.stripe.com' is not host:port" in decision.messages[0]


# --- grants --------------------------------------------------------------------------------


def test_missing_grant_names_the_exact_rules_file_to_add(judge: Judge, pod: PodFactory) -> None:
    decision = judge(pod(service_account="web", annotations={EGRESS: "API.Stripe.com.:443"}))
    assert decision.codes == ("grant-missing",)
    assert "services/shop/web/api.stripe.com:443.rule" in decision.messages[0]


def test_expired_grant_names_the_file_and_its_date(judge: Judge, pod: PodFactory) -> None:
    decision = judge(pod(service_account="notifier", annotations={EGRESS: "hooks.slack.com:443"}))
    assert decision.codes == ("grant-expired",)
    assert (
        "services/shop/notifier/hooks.slack.com:443.rule expired 2026-01-31"
        in (decision.messages[0])
    )


def test_grant_is_valid_through_its_expiry_day_in_utc(judge: Judge, pod: PodFactory) -> None:
    obj = pod(
        namespace="ci",
        service_account="builder",
        annotations={EGRESS: "storage.googleapis.com:443"},
    )
    last_moment = datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)
    assert judge(obj, now=last_moment).allowed
    decision = judge(obj, now=datetime(2027, 7, 1, tzinfo=UTC))
    assert decision.codes == ("grant-expired",)


def test_unlisted_port_asks_for_the_port_in_the_destination(judge: Judge, pod: PodFactory) -> None:
    decision = judge(
        pod(namespace="ci", service_account="builder", annotations={EGRESS: "github.com:8443"})
    )
    assert decision.codes == ("unknown-destination",)
    assert "github does not list port 8443" in decision.messages[0]


def test_uncovered_host_asks_for_a_destination(judge: Judge, pod: PodFactory) -> None:
    decision = judge(pod(annotations={EGRESS: "example.org:443"}))
    assert decision.codes == ("unknown-destination",)
    assert "destinations/" in decision.messages[0]


def test_each_bad_request_entry_is_its_own_violation_so_updates_see_new_ones(
    judge: Judge, pod: PodFactory
) -> None:
    old = pod(service_account="web", annotations={EGRESS: "api.stripe.com:443"})
    new = pod(service_account="web", annotations={EGRESS: "api.stripe.com:443, github.com:443"})
    decision = judge(new, operation="UPDATE", old=old)
    assert not decision.allowed
    assert decision.codes == ("grant-missing",)
    assert "github.com:443" in decision.messages[0]
    assert any("already present" in w and "api.stripe.com" in w for w in decision.warnings)


def test_deprecated_service_account_field_is_the_identity_when_the_name_is_empty(
    judge: Judge, pod: PodFactory
) -> None:
    obj = pod(annotations={EGRESS: "api.stripe.com:443"}, serviceAccount="checkout")
    assert judge(obj).allowed


def test_service_account_that_is_not_a_string_has_no_grants(judge: Judge, pod: PodFactory) -> None:
    obj = pod(annotations={EGRESS: "hooks.slack.com:443"}, serviceAccountName=["default"])
    assert judge(obj).codes == ("grant-missing",)


# --- managed labels and the patch ----------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "false", "", "yes"])
def test_entitlement_label_without_entitlement_is_refused_whatever_its_value(
    judge: Judge, pod: PodFactory, value: str
) -> None:
    decision = judge(pod(service_account="web", labels={"egressguard.io/allow-stripe": value}))
    assert decision.codes == ("managed-label",)
    assert decision.violations[0].path == 'metadata.labels["egressguard.io/allow-stripe"]'


def test_entitlement_label_is_refused_even_in_off_mode(judge: Judge, pod: PodFactory) -> None:
    decision = judge(pod(labels={"egressguard.io/allow-": "true"}), mode="off")
    assert not decision.allowed
    assert decision.codes == ("managed-label",)


def test_patch_adds_sorted_escaped_labels_and_applies_cleanly(
    judge: Judge, pod: PodFactory
) -> None:
    obj = pod(service_account="checkout", labels={"app": "checkout"})
    decision = judge(obj)
    assert list(decision.patch) == [
        {
            "op": "add",
            "path": "/metadata/labels/egressguard.io~1allow-partner-api",
            "value": "true",
        },
        {"op": "add", "path": "/metadata/labels/egressguard.io~1allow-stripe", "value": "true"},
    ]
    patched = jsonpatch.apply_patch(obj, list(decision.patch))
    assert patched["metadata"]["labels"]["egressguard.io/allow-stripe"] == "true"
    assert judge(patched).patch == ()


def test_patch_creates_the_labels_map_when_it_is_absent_or_null(
    judge: Judge, pod: PodFactory
) -> None:
    absent = pod(service_account="checkout")
    assert "labels" not in absent["metadata"]
    assert judge(absent).patch[0] == {"op": "add", "path": "/metadata/labels", "value": {}}
    null_labels = pod(service_account="checkout")
    null_labels["metadata"]["labels"] = None
    patched = jsonpatch.apply_patch(null_labels, list(judge(null_labels).patch))
    assert set(patched["metadata"]["labels"]) == {
        "egressguard.io/allow-partner-api",
        "egressguard.io/allow-stripe",
    }


def test_patch_escapes_tilde_and_slash_in_json_pointers(pod: PodFactory) -> None:
    config = dataclasses.replace(CONFIG, label_prefix="a~b/c")
    policy = Policy.build(config=config, destinations=DESTINATIONS, grants=GRANTS)
    judged = request(pod(service_account="default", labels={}), user=DEVELOPER)
    decision = evaluate(judged, policy, now=NOW, namespace_labels={})
    assert decision.patch == (
        {"op": "add", "path": "/metadata/labels/a~0b~1c~1allow-slack", "value": "true"},
    )


def test_refused_pods_updates_and_ephemeral_containers_get_no_patch(
    judge: Judge, pod: PodFactory
) -> None:
    entitled = pod(service_account="checkout")
    assert judge(entitled).patch
    assert judge({**entitled, "spec": {**entitled["spec"], "hostNetwork": True}}).patch == ()
    assert judge(entitled, operation="UPDATE", old=entitled).patch == ()
    assert (
        judge(entitled, operation="UPDATE", old=entitled, sub_resource="ephemeralcontainers").patch
        == ()
    )


def test_pod_templates_are_judged_but_never_patched(judge: Judge) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "template": {
                "metadata": {},
                "spec": {"serviceAccountName": "checkout", "containers": [{"name": "c"}]},
            }
        },
    }
    decision = judge(deployment)
    assert decision.allowed
    assert decision.patch == ()


def test_generate_name_pod_takes_its_identity_namespace_from_the_request(
    judge: Judge, pod: PodFactory
) -> None:
    obj = pod(service_account="checkout")
    del obj["metadata"]["namespace"]
    del obj["metadata"]["name"]
    obj["metadata"]["generateName"] = "checkout-"
    decision = judge(obj, namespace="shop")
    assert len(decision.patch) == 3


# --- gateway impersonation -----------------------------------------------------------------


def test_gateway_selector_on_anything_but_an_infrastructure_identity_is_impersonation(
    judge: Judge, pod: PodFactory
) -> None:
    decision = judge(pod(labels={"istio": "egressgateway"}))
    assert decision.codes == ("gateway-impersonation",)
    assert "istio-egressgateway" in decision.messages[0]
    # in the gateway's own namespace too, unless it runs as one of the mesh's identities
    in_place = pod(namespace="istio-egress", labels={"istio": "egressgateway"})
    assert judge(in_place).codes == ("gateway-impersonation",)
    gateway = pod(
        namespace="istio-egress",
        service_account="istio-egressgateway-service-account",
        labels={"istio": "egressgateway"},
    )
    assert judge(gateway).allowed
