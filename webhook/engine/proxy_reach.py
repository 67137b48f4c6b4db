"""Which proxies an EnvoyFilter, WasmPlugin or TrafficExtension reaches: the gateways in scope.

An object in the mesh root namespace reaches every gateway, any other only the gateways in
its own namespace. It applies to a gateway when it has no selector (or empty labels), a
selector that does not contradict the gateway's (contradict: a shared key with another
value), ``targetRefs`` naming a ``Gateway`` or ``GatewayClass`` (any group), or, for an
EnvoyFilter in a gateway's namespace, a Service or ServiceEntry (which Istio applies to the
waypoint serving it: the gateway). Reaching one is ``envoyfilter-gateway``.
"""

from __future__ import annotations

from typing import Any

from webhook.engine.context import Context, Findings, as_dict, as_list
from webhook.engine.protojson import field, has
from webhook.model.decision import Code, Violation
from webhook.model.review import JSONObject
from webhook.model.rules import Gateway


def _violation(message: str, path: str) -> Violation:
    return Violation(Code.ENVOYFILTER_GATEWAY, message, path, infrastructure=True)


def _gateways_in_scope(ctx: Context) -> list[Gateway]:
    config = ctx.policy.config
    everywhere = ctx.namespace == config.mesh_root_namespace
    return [g for g in config.gateways if everywhere or g.namespace == ctx.namespace]


def _contradicts(labels: dict[str, Any], gateway: Gateway) -> bool:
    return any(
        isinstance(value, str) and key in gateway.selector and gateway.selector[key] != value
        for key, value in labels.items()
    )


GATEWAY_KINDS = frozenset({"gateway", "gatewayclass"})
# What an EnvoyFilter's targetRefs may name in a waypoint's namespace besides its Gateway.
WAYPOINT_KINDS = frozenset({"service", "serviceentry"})


def gateway_reach(
    ctx: Context,
    spec: dict[str, Any],
    *,
    kind: str = "EnvoyFilter",
    selector_field: str = "workloadSelector",
    labels_field: str = "labels",
    waypoint_refs: bool = True,
) -> list[Violation]:
    """``waypoint_refs``: whether ``targetRefs`` naming a Service or ServiceEntry in a gateway
    namespace (where they are served by the gateway as a waypoint) count as reaching it."""
    gateways = _gateways_in_scope(ctx)
    if not gateways:
        return []
    first = gateways[0]
    fix = "ask the security team"
    refs = [("spec.targetRef", field(spec, "targetRef"))] if has(spec, "targetRef") else []
    refs += [(f"spec.targetRefs[{i}]", r) for i, r in enumerate(as_list(field(spec, "targetRefs")))]
    home = [g for g in gateways if g.namespace == ctx.namespace]
    for path, ref in refs:
        ref_kind = as_dict(ref).get("kind")
        if not isinstance(ref_kind, str) or ref_kind.strip().lower() in GATEWAY_KINDS:
            message = f"{kind} targets a Gateway, in reach of {first.namespace}/{first.name}; {fix}"
            return [_violation(message, path)]
        if waypoint_refs and home and ref_kind.strip().lower() in WAYPOINT_KINDS:
            message = (f"{kind} targets a {ref_kind.strip()} served by gateway "
                       f"{home[0].namespace}/{home[0].name} as a waypoint; {fix}")
            return [_violation(message, path)]
    if refs and not has(spec, selector_field):
        return []
    selector = field(spec, selector_field)
    labels = field(selector, labels_field) if isinstance(selector, dict) else None
    where = f"spec.{selector_field}"
    if not isinstance(labels, dict) or not labels:
        message = (
            f"{kind} without {selector_field} labels applies to gateway "
            f"{first.namespace}/{first.name}; select only your workloads, or {fix}"
        )
        return [_violation(message, where)]
    for gateway in gateways:
        if not _contradicts(labels, gateway):
            message = (
                f"{kind}'s {selector_field} may select gateway {gateway.namespace}/"
                f"{gateway.name}; add a label contradicting its selector, or {fix}"
            )
            return [_violation(message, where)]
    return []


def judge_proxy_extension(ctx: Context, obj: JSONObject) -> Findings:
    """WasmPlugin and TrafficExtension load code into proxies as an EnvoyFilter does, so
    one that may reach a gateway is ``envoyfilter-gateway`` by the same scoping rules (their
    targetRefs to a waypoint's Service or ServiceEntry are ``gateway-config``)."""
    kind = ctx.request.kind.kind
    spec = as_dict(obj.get("spec"))
    reach = gateway_reach(ctx, spec, kind=kind, selector_field="selector",
                           labels_field="matchLabels", waypoint_refs=False)
    return Findings(violations=tuple(reach))
