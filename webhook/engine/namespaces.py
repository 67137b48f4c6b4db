"""Namespaces. (Being written.)"""

from __future__ import annotations

from webhook.engine.context import Context, Findings
from webhook.model.decision import Violation
from webhook.model.review import JSONObject


def judge_namespace(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError


def judge_namespace_change(
    ctx: Context, old: JSONObject | None, new: JSONObject | None
) -> tuple[Violation, ...]:
    raise NotImplementedError
