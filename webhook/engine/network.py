"""Kubernetes networking objects. (Being written.)"""

from __future__ import annotations

from webhook.engine.context import Context, Findings
from webhook.model.decision import Violation
from webhook.model.review import JSONObject


def judge_network_policy(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError


def judge_network_policy_change(
    ctx: Context, old: JSONObject | None, new: JSONObject | None
) -> tuple[Violation, ...]:
    raise NotImplementedError


def judge_service(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError


def judge_endpoints(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError


def judge_endpoint_slice(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError
