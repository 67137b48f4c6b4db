"""The response vocabulary: the only builder of AdmissionReview responses."""

from __future__ import annotations

import base64

import orjson

from tests.admission import request
from webhook.model.decision import Decision
from webhook.model.rules import Mode
from webhook.server.responses import allowed, complete, denied, errored, from_decision, patched

REQUEST = request({"apiVersion": "v1", "kind": "Pod", "metadata": {}}, request_uid="u-1")
OPS = ({"op": "add", "path": "/metadata/labels/a", "value": "true"},)


def test_allowed_is_just_uid_and_allowed() -> None:
    assert complete(allowed(), REQUEST)["response"] == {"uid": "u-1", "allowed": True}


def test_patched_carries_patch_and_patch_type_together() -> None:
    response = complete(patched(OPS), REQUEST)["response"]
    assert response["patchType"] == "JSONPatch"
    assert orjson.loads(base64.b64decode(response["patch"])) == list(OPS)


def test_an_empty_patch_is_no_patch() -> None:
    assert complete(patched(()), REQUEST)["response"] == {"uid": "u-1", "allowed": True}


def test_denied_and_errored_carry_code_and_message() -> None:
    assert complete(denied("no"), REQUEST)["response"]["status"] == {
        "code": 403, "reason": "Forbidden", "message": "no"
    }
    assert complete(errored(500), REQUEST)["response"] == {
        "uid": "u-1", "allowed": False,
        "status": {"code": 500, "reason": "InternalError", "message": "Internal Server Error"},
    }


def test_only_the_mutating_webhook_answers_with_the_patch() -> None:
    decision = Decision(allowed=True, mode=Mode.ENFORCE, patch=OPS, warnings=("w",))
    assert "patch" in complete(from_decision(decision, mutating=True), REQUEST)["response"]
    validating = complete(from_decision(decision, mutating=False), REQUEST)["response"]
    assert validating == {"uid": "u-1", "allowed": True, "warnings": ["w"]}


def test_a_refusal_never_patches_and_keeps_its_warnings() -> None:
    decision = Decision(allowed=False, mode=Mode.ENFORCE, messages=("[x] bad",), patch=OPS,
                        warnings=("w",))
    response = complete(from_decision(decision, mutating=True), REQUEST)["response"]
    assert response == {
        "uid": "u-1", "allowed": False, "warnings": ["w"],
        "status": {
            "code": 403,
            "reason": "Forbidden",
            "message": "egressguard refused this object: [x] bad",
        },
    }
