"""Audit lines of pods and pod templates say who asked for what: ``serviceAccount`` and
``requested``, the input of ``egressguard learn``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.example_policy import NOW, example_policy
from webhook.engine import evaluate, pods
from webhook.engine.kinds import handler_for, judged_kinds
from webhook.model.review import parse_review
from webhook.server import audit
from webhook.server.audit import TEMPLATE_KINDS, identity_fields

from . import reviews
from .conftest import SHARED, Server, StartServer, server_shared_by_module

server = server_shared_by_module()

ANNOTATION = "egressguard.io/egress"


def _deployment(annotations: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {
            "metadata": {"annotations": annotations},
            "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause"}], **spec},
        }},
    }


@SHARED
async def test_a_pod_line_carries_its_service_account_and_normalised_requests(
    server: Server,
) -> None:
    pod = reviews.pod("checkout", service_account="checkout", annotations={
        ANNOTATION: " API.Stripe.com.:443, github.com:443 ,api.stripe.com:443, nonsense"})
    await server.post("/validate", reviews.pod_review(pod))
    line = server.audit[-1]
    assert line["serviceAccount"] == "checkout"
    # Lower-cased, trailing dot dropped, duplicates once; the malformed entry is not a host.
    assert line["requested"] == ["api.stripe.com:443", "github.com:443"]
    assert sorted(line["codes"]) == ["grant-missing", "unknown-destination"]


@SHARED
async def test_a_pod_template_line_names_the_default_service_account(server: Server) -> None:
    sent = reviews.review(_deployment({ANNOTATION: "hooks.slack.com:443"}),
                          kind=("apps", "v1", "Deployment"), namespace="shop", name="web")
    await server.post("/validate", sent)
    line = server.audit[-1]
    assert (line["kind"], line["serviceAccount"], line["requested"]) == (
        "Deployment", "default", ["hooks.slack.com:443"])


@SHARED
async def test_a_pod_without_the_annotation_requested_nothing(server: Server) -> None:
    await server.post("/mutate", reviews.pod_review(reviews.pod("plain", service_account="web")))
    line = server.audit[-1]
    assert (line["serviceAccount"], line["requested"]) == ("web", [])


@SHARED
async def test_other_kinds_carry_no_identity(server: Server) -> None:
    await server.post("/validate", reviews.secret_review())
    line = server.audit[-1]
    assert "serviceAccount" not in line and "requested" not in line


async def test_before_rules_load_a_pod_line_does_not_guess_the_annotation(
    start_server: StartServer, rules_dir: Path
) -> None:
    (rules_dir / "config.yaml").write_text("spec: [\n")
    server = await start_server()
    await server.post("/validate", reviews.pod_review(reviews.stripe_pod()))
    line = server.audit[-1]
    assert line["error"] == "no rules loaded"
    assert line["serviceAccount"] == "checkout" and "requested" not in line


@pytest.mark.parametrize("kind", ["CronJob", "Job"])
def test_a_job_templates_requests_are_read_where_the_engine_reads_them(kind: str) -> None:
    template = {"metadata": {"annotations": {"corp.io/egress": "pypi.org:443"}},
                "spec": {"serviceAccountName": "builder", "containers": []}}
    spec = ({"jobTemplate": {"spec": {"template": template}}} if kind == "CronJob"
            else {"template": template})
    sent = reviews.review({"kind": kind, "metadata": {"name": "j"}, "spec": spec},
                          kind=("batch", "v1", kind), namespace="ci", name="j")
    fields = identity_fields(parse_review(sent), "corp.io/egress")
    assert fields == {"serviceAccount": "builder", "requested": ["pypi.org:443"]}


def test_the_template_kinds_are_the_ones_the_engine_judges_as_workloads() -> None:
    engine_templates = {
        key for key in judged_kinds()
        if (handler := handler_for(*key)) is not None and handler.state is pods.judge_workload
    }
    assert engine_templates == TEMPLATE_KINDS


@SHARED
async def test_a_line_stays_within_one_atomic_pipe_write(server: Server) -> None:
    """With ``serve --workers`` every worker writes into the same stdout: a line longer
    than PIPE_BUF could be interleaved with another worker's. A pod asking for a hundred
    long hosts keeps the first that fit and says how many it left out."""
    hosts = [f"{'h' * 60}-{i}.{'d' * 60}.example.com:443" for i in range(100)]
    pod = reviews.pod("many", service_account="many", annotations={ANNOTATION: ",".join(hosts)})
    await server.post("/validate", reviews.pod_review(pod))
    line = server.audit[-1]
    assert len(orjson.dumps(line)) + 1 <= audit.LINE_BYTES == 4096
    kept = line["requested"]
    assert kept == hosts[: len(kept)] and 10 < len(kept) < 100
    assert line["requestedOmitted"] == 100 - len(kept)
    assert "truncated" not in line


def test_strings_a_client_chooses_are_shortened_only_when_the_line_is_too_long() -> None:
    entry = {"uid": "u", "user": "u" * 5000, "name": "n" * 100, "codes": ["host-network"]}
    short = orjson.loads(audit.encoded(entry))
    assert short["user"] == "u" * audit.SHORT_FIELD and short["name"] == "n" * 100
    assert short["truncated"] is True and short["codes"] == ["host-network"]
    assert orjson.loads(audit.encoded({"user": "u" * 3000})) == {"user": "u" * 3000}


@pytest.mark.parametrize("annotations", [
    {}, {ANNOTATION: "api.stripe.com:443"},
    {ANNOTATION: " API.Stripe.com.:443, github.com:443 ,api.stripe.com:443, nonsense, x:0"},
])
@pytest.mark.parametrize("kind", ["Pod", "Deployment"])
@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_the_engine_passes_the_fields_it_read_as_the_audit_reads_them(
    annotations: dict[str, str], kind: str, operation: str
) -> None:
    """The audit line takes serviceAccount and requested from the engine's decision rather
    than reading the annotation again; both readings agree."""
    if kind == "Pod":
        obj = reviews.pod("p", service_account="checkout", annotations=annotations)
        sent = reviews.review(obj, kind=("", "v1", "Pod"), operation=operation,
                              namespace="shop", name="p")
    else:
        sent = reviews.review(_deployment(annotations), kind=("apps", "v1", "Deployment"),
                              operation=operation, namespace="shop", name="web")
    if operation == "UPDATE":
        sent["request"]["oldObject"] = sent["request"]["object"]
    request = parse_review(sent)
    decision = evaluate(request, example_policy(), now=NOW, namespace_labels={})
    assert decision.service_account is not None and decision.requested is not None
    read_again = identity_fields(request, ANNOTATION)
    assert identity_fields(request, ANNOTATION, decision) == read_again
    assert read_again["serviceAccount"] == ("checkout" if kind == "Pod" else "default")
