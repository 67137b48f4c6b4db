"""The response vocabulary: the only code that builds AdmissionReview responses.

A handler picks one of :func:`allowed`, :func:`denied`, :func:`patched` or
:func:`errored`, may add warnings, and :func:`complete` turns the answer into the wire
format for one request: it fills ``uid`` and base64-encodes the patch, so ``patch`` and
``patchType`` always travel together and no other module spells those field names.
(controller-runtime's ``response.go`` is the model.)
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any

import orjson

from webhook.model.decision import Decision
from webhook.model.review import (
    AdmissionRequest,
    ResponseWire,
    ReviewResponseWire,
    StatusWire,
    review_response,
)

# metav1.StatusReason for the codes egressguard answers with: kubectl prints it, as in
# "Error from server (Forbidden): ...".
_REASONS: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: "BadRequest",
    HTTPStatus.FORBIDDEN: "Forbidden",
    HTTPStatus.REQUEST_TIMEOUT: "Timeout",
    HTTPStatus.TOO_MANY_REQUESTS: "TooManyRequests",
    HTTPStatus.INTERNAL_SERVER_ERROR: "InternalError",
    HTTPStatus.SERVICE_UNAVAILABLE: "ServiceUnavailable",
}


@dataclass(frozen=True, slots=True)
class Answer:
    """What egressguard says about one request, before it is bound to the request's uid."""

    allowed: bool
    code: int | None = None
    message: str = ""
    patch: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()

    def with_warnings(self, warnings: Iterable[str]) -> Answer:
        added = tuple(warnings)
        return replace(self, warnings=(*self.warnings, *added)) if added else self


def allowed() -> Answer:
    return Answer(allowed=True)


def denied(message: str, *, code: int = HTTPStatus.FORBIDDEN) -> Answer:
    return Answer(allowed=False, code=int(code), message=message)


def patched(operations: Sequence[dict[str, Any]]) -> Answer:
    """Admits with a JSONPatch; an empty patch is a plain :func:`allowed`."""
    return Answer(allowed=True, patch=tuple(operations))


def errored(code: int, message: str = "") -> Answer:
    """A request egressguard could not judge: never an admission."""
    return Answer(allowed=False, code=int(code), message=message or HTTPStatus(code).phrase)


def from_decision(decision: Decision, *, mutating: bool) -> Answer:
    """The answer for one engine decision; only the mutating webhook carries the patch."""
    if not decision.allowed:
        answer = denied(decision.summary)
    elif mutating and decision.patch:
        answer = patched(decision.patch)
    else:
        answer = allowed()
    return answer.with_warnings(decision.warnings)


def complete(answer: Answer, request: AdmissionRequest) -> ReviewResponseWire:
    """Binds an answer to the request it answers, as the API server expects it."""
    response: ResponseWire = {"uid": request.uid, "allowed": answer.allowed}
    if answer.code is not None or answer.message:
        status: StatusWire = {}
        if answer.code is not None:
            status["code"] = answer.code
            if answer.code in _REASONS:
                status["reason"] = _REASONS[answer.code]
        if answer.message:
            status["message"] = answer.message
        response["status"] = status
    if answer.patch:
        response["patch"] = base64.b64encode(orjson.dumps(list(answer.patch))).decode("ascii")
        response["patchType"] = "JSONPatch"
    if answer.warnings:
        response["warnings"] = list(answer.warnings)
    return review_response(response)
