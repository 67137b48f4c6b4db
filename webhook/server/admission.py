"""``POST /mutate`` and ``POST /validate``: decode, call the engine, encode.

Two error families (STYLE): a policy violation is an AdmissionReview with
``allowed: false``; a request that cannot be judged is an HTTP error from the one
except-ladder in :func:`admit` — 4xx with ``{"error": ...}`` for a body that is not a
review we accept, 503 before rules are loaded, and 500 for an unexpected exception,
logged with its traceback and still carrying the uid when it was read. None of them is
ever ``allowed: true``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

import orjson
from aiohttp import web

from webhook.engine import evaluate, namespace_of
from webhook.model.review import AdmissionRequest, MalformedReview, parse_review
from webhook.model.rules import Policy
from webhook.server.decoding import UndecodableBody, decode_json
from webhook.server.intake import RefusedRequest, read_body
from webhook.server.keys import NAMESPACES, OUTCOME, RULES, SETTINGS, Outcome
from webhook.server.namespaces import NamespaceLabels
from webhook.server.responses import Answer, complete, errored, from_decision

log = logging.getLogger("egressguard.admission")
MUTATE, VALIDATE = "mutate", "validate"


class RulesNotLoaded(Exception):
    """No rules have loaded yet: refuse to judge rather than guess."""


def json_error(status: int, message: str, *, close: bool = False) -> web.Response:
    response = web.Response(
        status=status, body=orjson.dumps({"error": message}), content_type="application/json"
    )
    if close:
        response.force_close()
    return response


def reply(answer: Answer, request: AdmissionRequest, *, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(complete(answer, request)),
        content_type="application/json",
    )


def namespace_labels(request: AdmissionRequest, policy: Policy, source: NamespaceLabels,
                     modes: Mapping[str, str]) -> Mapping[str, str] | None:
    """The labels of the request's namespace; None when unknown (judged as enforce)."""
    namespace = namespace_of(request)
    if not namespace:
        return {}  # cluster-scoped: the engine judges it in enforce mode anyway
    labels = source.labels(namespace)
    override = modes.get(namespace)
    if override is not None:
        return {**(labels or {}), policy.config.mode_label: override}
    return labels


async def admit(http: web.Request, *, webhook: str) -> web.Response:
    app = http.app
    settings = app[SETTINGS]
    outcome = Outcome(webhook=webhook)
    http[OUTCOME] = outcome
    review: AdmissionRequest | None = None
    try:
        body = await read_body(
            http, max_body_bytes=settings.max_body_bytes, timeout=settings.read_timeout
        )
        review = parse_review(decode_json(body, max_depth=settings.max_depth))
        outcome.request = review
        snapshot = app[RULES].snapshot
        if snapshot is None:
            raise RulesNotLoaded
        outcome.rules_revision = snapshot.revision
        labels = namespace_labels(
            review, snapshot.policy, app[NAMESPACES], settings.namespace_modes
        )
        decision = evaluate(
            review, snapshot.policy, now=settings.clock(), namespace_labels=labels,
            namespace_terminating=app[NAMESPACES].terminating(namespace_of(review)),
        )
    except RefusedRequest as error:
        outcome.error = error.message
        return json_error(error.status, error.message, close=error.close)
    except (UndecodableBody, MalformedReview) as error:
        outcome.error = str(error)
        return json_error(HTTPStatus.BAD_REQUEST, str(error))
    except RulesNotLoaded:
        assert review is not None
        outcome.error = "no rules loaded"
        message = "egressguard has no rules loaded yet; it refuses until it has"
        return reply(errored(HTTPStatus.SERVICE_UNAVAILABLE, message), review,
                     status=HTTPStatus.SERVICE_UNAVAILABLE)
    except Exception as error:
        log.exception("failed to judge %s request %s", webhook,
                      review.uid if review is not None else "(unread)")
        outcome.error = f"internal error: {type(error).__name__}"
        message = "egressguard failed to judge this request; its logs say why"
        if review is None:
            return json_error(HTTPStatus.INTERNAL_SERVER_ERROR, message)
        return reply(errored(HTTPStatus.INTERNAL_SERVER_ERROR, message), review,
                     status=HTTPStatus.INTERNAL_SERVER_ERROR)
    outcome.verdict = decision
    outcome.decision = "allowed" if decision.allowed else "denied"
    return reply(from_decision(decision, mutating=webhook == MUTATE), review)


async def mutate(http: web.Request) -> web.Response:
    return await admit(http, webhook=MUTATE)


async def validate(http: web.Request) -> web.Response:
    return await admit(http, webhook=VALIDATE)
