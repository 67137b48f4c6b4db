"""Istio's ``ProxyConfig`` kind (networking.istio.io/v1beta1): proxy settings by selector.

It sets for many proxies at once what ``proxy.istio.io/config`` sets for one pod, so it is
judged the same way, its ``environmentVariables`` like ``proxyMetadata``. The code is
``proxy-override`` for everyone, trusted principals included: a variable that redirects the
proxy does so whoever wrote it, and the rules repository is where the mesh's settings belong.
"""

from __future__ import annotations

from webhook.engine.context import Context, Findings, as_dict
from webhook.engine.proxy_override import KIND_FIELDS, ProxyConfigJudge, judge_fields
from webhook.model.decision import Code, Violation
from webhook.model.review import JSONObject


def judge_proxy_config_kind(ctx: Context, obj: JSONObject) -> Findings:
    spec = as_dict(obj.get("spec"))
    settings = {key: value for key, value in spec.items() if key != "selector"}
    if not isinstance(obj.get("spec"), dict) and obj.get("spec") is not None:
        settings = {"spec": obj.get("spec")}
    problems = judge_fields(settings, ProxyConfigJudge.of(ctx.policy.config), KIND_FIELDS)
    return Findings(
        violations=tuple(
            Violation(
                Code.PROXY_OVERRIDE,
                f"ProxyConfig {problem}; remove it",
                "spec",
                value=problem,
            )
            for problem in problems
        )
    )
