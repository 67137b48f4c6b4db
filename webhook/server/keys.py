"""Typed keys for what the app and each request share (aiohttp ``AppKey``/``RequestKey``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from webhook.model.decision import Decision
from webhook.model.review import AdmissionRequest
from webhook.server.audit import AuditLog
from webhook.server.limits import InFlight
from webhook.server.listener import Connections
from webhook.server.metrics import Metrics
from webhook.server.namespaces import NamespaceLabels
from webhook.server.rules import RulesState
from webhook.server.settings import Settings
from webhook.server.tls import CertificateStore


@dataclass(slots=True)
class Outcome:
    """What the admission handler concluded, for the metrics and audit middlewares.

    ``decision`` is "allowed", "denied" or "error"; ``request`` is None when the body was
    refused before it could be read as a review.
    """

    webhook: str
    decision: str = "error"
    request: AdmissionRequest | None = None
    verdict: Decision | None = None
    rules_revision: str = ""
    request_annotation: str = ""  # the rules' request annotation, for the audit log
    error: str = ""


SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
RULES = web.AppKey("rules", RulesState)
CERTIFICATES = web.AppKey("certificates", CertificateStore)
NAMESPACES = web.AppKey("namespaces", NamespaceLabels)
AUDIT = web.AppKey("audit", AuditLog)
CONNECTIONS = web.AppKey("connections", Connections)
IN_FLIGHT = web.AppKey("in_flight", InFlight)
DRAINING = web.AppKey("draining", asyncio.Event)  # set on SIGTERM: /readyz says not ready
OUTCOME = web.RequestKey("outcome", Outcome)
