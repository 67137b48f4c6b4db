"""``POST /mutate`` and ``POST /validate``: decode, call the engine, encode.

Two error families (STYLE): a policy violation is an AdmissionReview with
``allowed: false``; a request that cannot be judged is an HTTP error from the one
except-ladder in :func:`admit` — 4xx with ``{"error": ...}`` for a body that is not a
review we accept (or an object nested too deeply for the engine to compare), 503 before
rules are loaded, and 500 for an unexpected exception, logged with its traceback and
still carrying the uid when it was read. None of them is
ever ``allowed: true``. Past the bounds of :mod:`webhook.server.limits` a review is
refused with 429 unjudged, and one whose decision does not come in time with 503.
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
from webhook.server.keys import IN_FLIGHT, METRICS, NAMESPACES, OUTCOME, RULES, SETTINGS, Outcome
from webhook.server.limits import QUICK_REFUSAL_BYTES, Overloaded, TooSlow
from webhook.server.namespaces import NamespaceLabels
from webhook.server.responses import Answer, complete, errored, from_decision

log = logging.getLogger("egressguard.admission")
MUTATE, VALIDATE = "mutate", "validate"
TOO_DEEP = "the object nests too deeply to be judged; flatten it"


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


def namespace_labels(namespace: str, policy: Policy, source: NamespaceLabels,
                     modes: Mapping[str, str]) -> Mapping[str, str] | None:
    """The labels of the request's namespace; None when unknown (judged as enforce)."""
    if not namespace:
        return {}  # cluster-scoped: the engine judges it in enforce mode anyway
    labels = source.labels(namespace)
    override = modes.get(namespace)
    if override is not None:
        return {**(labels or {}), policy.config.mode_label: override}
    return labels


async def overloaded(http: web.Request, outcome: Outcome, reason: str) -> web.Response:
    """The fast refusal: a 429 AdmissionReview when the body is small enough to read for
    its uid, else an HTTP 429 closing the connection. Never ``allowed: true``."""
    settings = http.app[SETTINGS]
    http.app[METRICS].overloaded.labels(reason=reason).inc()
    outcome.error = f"overloaded: too many {reason} in flight"
    message = "egressguard is answering too many reviews at once; retry shortly"
    declared = http.content_length
    if declared is not None and declared <= QUICK_REFUSAL_BYTES:
        try:
            body = await read_body(http, max_body_bytes=QUICK_REFUSAL_BYTES,
                                   timeout=settings.read_timeout)
            review = parse_review(decode_json(body))
        except (RefusedRequest, UndecodableBody, MalformedReview):
            pass
        else:
            outcome.request = review
            return reply(errored(HTTPStatus.TOO_MANY_REQUESTS, message), review)
    return json_error(HTTPStatus.TOO_MANY_REQUESTS, message, close=True)


async def admit(http: web.Request, *, webhook: str) -> web.Response:
    outcome = Outcome(webhook=webhook)
    http[OUTCOME] = outcome
    settings = http.app[SETTINGS]
    declared = http.content_length
    reserved = min(declared if declared is not None else settings.max_body_bytes,
                   settings.max_body_bytes)
    try:
        with http.app[IN_FLIGHT].enter(reserved):
            return await judge(http, outcome)
    except Overloaded as error:
        return await overloaded(http, outcome, error.reason)


async def judge(http: web.Request, outcome: Outcome) -> web.Response:
    app = http.app
    settings = app[SETTINGS]
    limits = app[IN_FLIGHT]
    webhook = outcome.webhook
    review: AdmissionRequest | None = None
    try:
        body = await read_body(
            http, max_body_bytes=settings.max_body_bytes, timeout=settings.read_timeout
        )
        # Decoding a body of megabytes takes as long as judging it: both count toward the
        # deadline, and both happen off the event loop when the body is large.
        size, deadline = len(body), limits.deadline(settings.decision_timeout)
        review = await limits.run(
            lambda: parse_review(decode_json(body)),
            size=size, deadline=deadline,
        )
        outcome.request = review
        snapshot = app[RULES].snapshot
        if snapshot is None:
            raise RulesNotLoaded
        outcome.rules_revision = snapshot.revision
        outcome.request_annotation = snapshot.policy.config.request_annotation
        namespace = namespace_of(review)  # read once, for the labels and the lifecycle
        labels = namespace_labels(
            namespace, snapshot.policy, app[NAMESPACES], settings.namespace_modes
        )
        now = settings.clock()
        judged = review
        terminating = app[NAMESPACES].terminating(namespace)
        decision = await limits.run(
            lambda: evaluate(judged, snapshot.policy, now=now, namespace_labels=labels,
                             namespace_terminating=terminating),
            size=size, deadline=deadline,
        )
    except RefusedRequest as error:
        outcome.error = error.message
        return json_error(error.status, error.message, close=error.close)
    except (UndecodableBody, MalformedReview) as error:
        outcome.error = str(error)
        return json_error(HTTPStatus.BAD_REQUEST, str(error))
    except RecursionError:  # a value nested deeper than Python compares or prints
        outcome.error = TOO_DEEP
        return json_error(HTTPStatus.BAD_REQUEST, TOO_DEEP)
    except TooSlow:
        app[METRICS].decision_timeouts.inc()
        outcome.error = "decision timed out"
        message = (f"egressguard could not judge this object within "
                   f"{settings.decision_timeout:g} seconds; make it smaller")
        if review is None:  # not even decoded in time
            return json_error(HTTPStatus.SERVICE_UNAVAILABLE, message)
        return reply(errored(HTTPStatus.SERVICE_UNAVAILABLE, message), review,
                     status=HTTPStatus.SERVICE_UNAVAILABLE)
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
