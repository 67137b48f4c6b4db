"""Pods and pod templates. (Being written.)"""

from __future__ import annotations

from webhook.engine.context import Context, Findings
from webhook.model.review import JSONObject


def judge_pod(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError


def judge_workload(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError
