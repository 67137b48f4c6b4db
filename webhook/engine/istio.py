"""Istio objects. (Being written.)"""

from __future__ import annotations

from webhook.engine.context import Context, Findings
from webhook.model.review import JSONObject


def judge_service_entry(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError


def judge_envoy_filter(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError


def judge_sidecar(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError


def judge_workload_entry(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError


def judge_mesh_config(ctx: Context, obj: JSONObject) -> Findings:
    raise NotImplementedError
