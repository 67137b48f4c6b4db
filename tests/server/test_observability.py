"""Probes, metrics and the audit log (RELIABILITY 28; SPEC §6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook.server.keys import RULES

from . import reviews
from .conftest import SHARED, Server, StartServer, server_shared_by_module

server = server_shared_by_module()


@SHARED
async def test_healthz_answers_ok(server: Server) -> None:
    reply = await server.get("/healthz")
    assert (reply.status, reply.json()) == (200, {"status": "ok"})


@SHARED
async def test_readyz_is_ready_with_rules_and_a_certificate(server: Server) -> None:
    reply = await server.get("/readyz")
    assert (reply.status, reply.json()) == (200, {"ready": True, "missing": []})


async def test_readyz_reveals_nothing_about_the_rules(
    start_server: StartServer, rules_dir: Path
) -> None:
    """RELIABILITY 34: no rules path, revision or error text to whoever reaches the port."""
    (rules_dir / "config.yaml").write_text("spec: [\n")
    server = await start_server()
    reply = await server.get("/readyz")
    assert (reply.status, reply.json()) == (503, {"ready": False, "missing": ["rules"]})
    for secret in (str(rules_dir), "config.yaml", "revision", "error"):
        assert secret.encode() not in reply.body


async def test_without_loadable_rules_readyz_refuses_until_they_load(
    start_server: StartServer, rules_dir: Path
) -> None:
    config = rules_dir / "config.yaml"
    good = config.read_text()
    config.write_text("apiVersion: egressguard.io/v1alpha1\nkind: Config\nspec: [\n")
    server = await start_server(watch=True)
    reply = await server.get("/readyz")
    assert (reply.status, reply.json()) == (503, {"ready": False, "missing": ["rules"]})
    assert any("config.yaml" in line for line in server.running.app[RULES].last_error)
    # Not judged without rules: a 503 carrying the uid, never an admission.
    sent = reviews.secret_review(request_uid="before-rules")
    answer = await server.post("/validate", sent)
    assert answer.status == 503
    assert answer.json()["response"] == {
        "uid": "before-rules", "allowed": False,
        "status": {"code": 503, "reason": "ServiceUnavailable",
                   "message": "egressguard has no rules loaded yet; it refuses until it has"},
    }
    config.write_text(good)
    for _ in range(300):  # bounded: 15 s
        if (await server.get("/readyz")).status == 200:
            break
        import asyncio

        await asyncio.sleep(0.05)
    assert (await server.get("/readyz")).status == 200


async def test_metrics_count_decisions_by_kind_operation_decision_and_mode(
    start_server: StartServer,
) -> None:
    server = await start_server()  # its own: the counts start at zero
    await server.post("/validate", reviews.pod_review(reviews.host_network_pod()))
    await server.post("/mutate", reviews.pod_review(reviews.stripe_pod()))
    await server.post("/validate", b"not json")
    metric = "egressguard_admission_requests_total"
    assert await server.metric(metric, {"webhook": "validate", "kind": "Pod",
                                        "operation": "CREATE", "decision": "denied",
                                        "mode": "enforce"}) == 1
    assert await server.metric(metric, {"webhook": "mutate", "kind": "Pod",
                                        "operation": "CREATE", "decision": "allowed",
                                        "mode": "enforce"}) == 1
    assert await server.metric(metric, {"webhook": "validate", "kind": "", "operation": "",
                                        "decision": "error", "mode": ""}) == 1
    assert await server.metric("egressguard_admission_duration_seconds_bucket",
                               {"webhook": "validate", "le": "0.0001"}) is not None
    assert await server.metric("egressguard_admission_duration_seconds_count",
                               {"webhook": "validate"}) == 2
    expiry = await server.metric("egressguard_certificate_expiry_timestamp_seconds")
    assert expiry is not None and expiry > 0
    assert await server.metric("egressguard_rules_generation") == 1
    assert await server.metric("egressguard_reload_errors_total", {"what": "rules"}) == 0


async def test_a_kind_label_never_comes_from_the_request_as_sent(
    start_server: StartServer,
) -> None:
    server = await start_server()  # its own: the counts start at zero
    sent = reviews.review({"kind": "X"}, kind=("evil.io", "v1", "Kind-" + "x" * 50))
    await server.post("/validate", sent)
    assert await server.metric("egressguard_admission_requests_total", {
        "webhook": "validate", "kind": "other", "operation": "CREATE", "decision": "allowed",
        "mode": "enforce"}) == 1


@SHARED
@pytest.mark.parametrize("dry_run", [False, True])
async def test_every_decision_is_one_audit_line(server: Server, dry_run: bool) -> None:
    sent = reviews.pod_review(reviews.host_network_pod(), dry_run=dry_run, user="mallory")
    await server.post("/validate", sent)
    await server.post("/mutate", reviews.pod_review(reviews.stripe_pod()))
    assert len(server.audit) == 2
    refused, patched = server.audit
    assert refused == refused | {
        "webhook": "validate", "uid": sent["request"]["uid"], "kind": "Pod",
        "namespace": "shop", "name": "sneaky", "operation": "CREATE", "user": "mallory",
        "dryRun": dry_run, "mode": "enforce", "allowed": False, "codes": ["host-network"],
    }
    assert isinstance(refused["duration"], float) and 0 <= refused["duration"] < 5
    assert patched["allowed"] is True and patched["patched"] is True
    assert patched["rulesRevision"] == refused["rulesRevision"] != ""


@SHARED
async def test_a_generated_name_is_audited_when_the_request_has_none(server: Server) -> None:
    pod = reviews.pod("")
    pod["metadata"]["generateName"] = "web-7d9c-"
    sent = reviews.pod_review(pod)
    sent["request"]["name"] = ""
    await server.post("/validate", sent)
    assert server.audit[-1]["name"] == "web-7d9c-"
