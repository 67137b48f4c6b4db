"""The AdmissionReview contract with the API server (RELIABILITY 1, 3, 4)."""

from __future__ import annotations

import base64
import logging
from typing import Any

import orjson
import pytest

from webhook.model.decision import Decision
from webhook.server import admission

from . import reviews
from .conftest import SHARED, Server, StartServer, server_shared_by_module

server = server_shared_by_module()


def response_of(body: dict[str, Any]) -> dict[str, Any]:
    assert body["apiVersion"] == "admission.k8s.io/v1"
    assert body["kind"] == "AdmissionReview"
    response: dict[str, Any] = body["response"]
    return response


@SHARED
@pytest.mark.parametrize("path", ["/mutate", "/validate"])
async def test_response_echoes_the_uid_as_an_admission_v1_review(server: Server, path: str) -> None:
    sent = reviews.secret_review(request_uid="3f1c6a0e-uid-under-test")
    reply = await server.post(path, sent)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    response = response_of(reply.json())
    assert response == {"uid": "3f1c6a0e-uid-under-test", "allowed": True}


@SHARED
async def test_mutate_returns_the_entitlement_patch_with_its_patch_type(server: Server) -> None:
    reply = await server.post("/mutate", reviews.pod_review(reviews.stripe_pod()))
    response = response_of(reply.json())
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    patch = orjson.loads(base64.b64decode(response["patch"]))
    assert {"op": "add", "path": "/metadata/labels/egressguard.io~1allow-stripe",
            "value": "true"} in patch
    assert all(op["op"] == "add" for op in patch)


@SHARED
async def test_validate_never_patches_what_mutate_would(server: Server) -> None:
    reply = await server.post("/validate", reviews.pod_review(reviews.stripe_pod()))
    response = response_of(reply.json())
    assert response["allowed"] is True
    assert "patch" not in response and "patchType" not in response


@SHARED
@pytest.mark.parametrize("path", ["/mutate", "/validate"])
async def test_a_refusal_carries_403_and_the_decision_summary(server: Server, path: str) -> None:
    reply = await server.post(path, reviews.pod_review(reviews.host_network_pod()))
    response = response_of(reply.json())
    assert reply.status == 200
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert response["status"]["message"].startswith("egressguard refused this object: ")
    assert "[host-network]" in response["status"]["message"]
    assert "patch" not in response and "patchType" not in response


async def test_warn_mode_admits_and_passes_warnings_through(start_server: StartServer) -> None:
    server = await start_server(namespace_modes={"shop": "warn"})
    reply = await server.post("/validate", reviews.pod_review(reviews.host_network_pod()))
    response = response_of(reply.json())
    assert response["allowed"] is True
    assert any(w.startswith("host-network") for w in response["warnings"])
    assert all(len(w) <= 240 for w in response["warnings"])


@SHARED
async def test_dry_run_is_judged_like_any_request(server: Server) -> None:
    reply = await server.post(
        "/validate", reviews.pod_review(reviews.host_network_pod(), dry_run=True)
    )
    assert response_of(reply.json())["allowed"] is False


@SHARED
async def test_an_exception_in_the_engine_is_a_500_with_the_uid_and_a_traceback(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Decision:
        raise RuntimeError("engine bug under test")

    monkeypatch.setattr(admission, "evaluate", broken)
    sent = reviews.pod_review(request_uid="uid-of-the-failed-request")
    with caplog.at_level(logging.ERROR, logger="egressguard.admission"):
        reply = await server.post("/validate", sent)
    assert reply.status == 500
    response = response_of(reply.json())
    assert response["uid"] == "uid-of-the-failed-request"
    assert response["allowed"] is False
    assert response["status"]["code"] == 500
    failures = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert failures and "engine bug under test" in str(failures[0])
    assert server.audit[-1]["allowed"] is False
    assert server.audit[-1]["error"] == "internal error: RuntimeError"


@SHARED
async def test_unknown_paths_and_methods_are_not_admissions(server: Server) -> None:
    assert (await server.get("/mutate")).status == 405
    assert (await server.post("/admit", reviews.secret_review())).status == 404


@SHARED
@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
async def test_a_write_without_its_object_is_a_400_never_admitted(
    server: Server, operation: str
) -> None:
    """RELIABILITY 2: a CREATE or UPDATE without ``object`` is not what the API server sends;
    it was once judged as an empty object and admitted."""
    for kind in (("", "v1", "Pod"), ("networking.k8s.io", "v1", "NetworkPolicy")):
        sent = reviews.review(None, kind=kind, operation=operation, namespace="shop",
                              name="x", old=reviews.pod() if operation == "UPDATE" else None)
        reply = await server.post("/validate", sent)
        assert (reply.status, reply.json()) == (
            400, {"error": f"request.object is missing for a {operation}"})
