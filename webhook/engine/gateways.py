"""Configuration that reaches the egress gateways from outside their rules (``gateway-config``).

The gateways' listeners, routes and policies come from the rules repository through
``render``. From an untrusted principal, each of these would add to them or replace them:

- an Istio ``Gateway`` whose selector does not contradict a configured gateway's (a shared
  key with another value): Gateway selectors span namespaces by default;
- a VirtualService bound (``gateways:``, top-level or per match) to a Gateway in a gateway
  namespace, its name resolved as Istio resolves it: ``ns/name``, ``./name`` and a bare
  name in the VirtualService's namespace, the legacy ``name.ns[.svc.<domain>]``;
- an AuthorizationPolicy or RequestAuthentication in a gateway namespace (an ALLOW policy
  is OR-ed with the per-destination ones) or the mesh root namespace (it applies to every
  workload), or whose ``targetRefs`` point into a gateway namespace;
- a Gateway API ``Gateway`` of one of Istio's classes: it deploys a proxy whose own traffic
  is not captured;
- a Gateway API route whose ``parentRefs`` point into a gateway namespace (a Gateway there,
  or a Service or ServiceEntry served by its waypoint);
- a Gateway API ``ListenerSet`` whose ``parentRef`` points into a gateway namespace: its
  listeners are merged into that Gateway's (once the Gateway's ``allowedListeners`` lets
  them), so it opens ports on the egress gateway;
- a WasmPlugin or TrafficExtension whose ``targetRefs`` name a Service or ServiceEntry in a
  gateway namespace: code loaded into the egress waypoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from webhook.engine import fieldpath
from webhook.engine.context import Context, Findings, as_dict, as_list
from webhook.engine.protojson import field, has
from webhook.model.decision import Code, Violation
from webhook.model.review import JSONObject
from webhook.model.rules import Gateway

MESH = "mesh"
ASK = "ask the security team"
# Istio's built-in GatewayClasses (pilot/pkg/config/kube/gatewaycommon/classinfo.go).
ISTIO_CLASSES = frozenset(
    {
        "istio",
        "istio-waypoint",
        "istio-east-west",
        "istio-remote",
        "istio-agentgateway",
        "istio-agentgateway-waypoint",
    }
)
ROUTE_SECTIONS = ("http", "tls", "tcp")


def _digest(spec: dict[str, Any]) -> str:
    """A short digest of a spec: any change to it makes its violations new on UPDATE."""
    try:
        text = json.dumps(spec, sort_keys=True, default=str)
    except (RecursionError, ValueError):
        return "unreadable"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _violation(spec: dict[str, Any], message: str, path: str, value: str = "") -> Violation:
    """A gateway-config violation; its value carries the spec's digest, so that an UPDATE
    changing what reaches the gateway is refused, not waved through as already present."""
    return Violation(
        Code.GATEWAY_CONFIG, message, path, infrastructure=True, value=f"{value}@{_digest(spec)}"
    )


# -- Istio Gateway -----------------------------------------------------------------------


def _keys_to_contradict(gateway: Gateway) -> str:
    return " or ".join(
        f"{key} to a value other than {fieldpath.shown(value)}"
        for key, value in sorted(gateway.selector.items())
    )


def judge_istio_gateway(ctx: Context, obj: JSONObject) -> Findings:
    """An Istio Gateway whose selector may pick a configured egress gateway's pods."""
    spec = as_dict(obj.get("spec"))
    selector = as_dict(spec.get("selector"))
    found = [
        _violation(
            spec,
            f"Gateway selector may pick egress gateway {gateway.namespace}/{gateway.name}: set "
            f"{_keys_to_contradict(gateway)}, or {ASK}",
            "spec.selector",
            gateway.name,
        )
        for gateway in ctx.policy.config.gateways
        if not gateway.contradicted_by(selector)
    ]
    return Findings(violations=tuple(found))


# -- VirtualService bindings -------------------------------------------------------------


def gateway_namespace(name: str, own: str) -> str:
    """The namespace of the Gateway a VirtualService names, as Istio resolves it."""
    if "/" in name:
        namespace, _, _ = name.partition("/")
        return own if namespace == "." else namespace
    if "." not in name:
        return own
    rest = name.split(".", 1)[1]
    return rest.split(".", 1)[0]


def _bindings(spec: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for i, name in enumerate(as_list(spec.get("gateways"))):
        yield f"spec.gateways[{i}]", name
    for section in ROUTE_SECTIONS:
        for i, rule in enumerate(as_list(spec.get(section))):
            for j, match in enumerate(as_list(as_dict(rule).get("match"))):
                for k, name in enumerate(as_list(as_dict(match).get("gateways"))):
                    yield f"spec.{section}[{i}].match[{j}].gateways[{k}]", name


def virtual_service_bindings(ctx: Context, spec: dict[str, Any]) -> list[Violation]:
    """A VirtualService bound to a Gateway in a gateway namespace (or to one it cannot name)."""
    gateway_namespaces = ctx.policy.config.gateway_namespaces
    found: list[Violation] = []
    for path, name in _bindings(spec):
        if name == MESH:
            continue
        if not isinstance(name, str) or not name.strip():
            message = f"gateway {fieldpath.shown(name)} is not a gateway name; name one, or {ASK}"
            found.append(_violation(spec, message, path))
            continue
        namespace = gateway_namespace(name.strip(), ctx.namespace)
        if namespace in gateway_namespaces:
            message = (
                f"VirtualService binds to Gateway {fieldpath.shown(name)} in gateway namespace "
                f"{namespace}; egress gateway routes come from the rules repo: {ASK}"
            )
            found.append(_violation(spec, message, path, name))
    return found


# -- policies and extensions -------------------------------------------------------------


def _target_refs(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if has(spec, "targetRef"):
        yield "spec.targetRef", as_dict(field(spec, "targetRef"))
    for i, ref in enumerate(as_list(field(spec, "targetRefs"))):
        yield f"spec.targetRefs[{i}]", as_dict(ref)


def _ref_namespace(ref: dict[str, Any], own: str) -> str:
    namespace = ref.get("namespace")
    return namespace if isinstance(namespace, str) and namespace else own


def _refs_into_gateway_namespaces(
    ctx: Context, spec: dict[str, Any], what: str, kinds: frozenset[str]
) -> list[Violation]:
    found: list[Violation] = []
    for path, ref in _target_refs(spec):
        namespace = _ref_namespace(ref, ctx.namespace)
        kind = ref.get("kind")
        if namespace in ctx.policy.config.gateway_namespaces and (
            not kinds or not isinstance(kind, str) or kind in kinds
        ):
            target = f"{fieldpath.shown(kind)} {namespace}/{fieldpath.shown(ref.get('name'))}"
            message = f"{what} targets {target} in gateway namespace {namespace}; {ASK}"
            found.append(_violation(spec, message, path, target))
    return found


def judge_security_policy(ctx: Context, obj: JSONObject) -> Findings:
    """AuthorizationPolicy and RequestAuthentication that apply to an egress gateway."""
    kind = ctx.request.kind.kind
    config = ctx.policy.config
    spec = as_dict(obj.get("spec"))
    found: list[Violation] = []
    if ctx.namespace in config.gateway_namespaces:
        message = (
            f"{kind} in gateway namespace {ctx.namespace} applies to the egress gateway beside "
            f"the policies rendered from the rules repo; {ASK}"
        )
        found.append(_violation(spec, message, "metadata.namespace"))
    elif ctx.namespace == config.mesh_root_namespace:
        message = (
            f"{kind} in the mesh root namespace {ctx.namespace} applies to every workload, the "
            f"egress gateways included; write it in your own namespace, or {ASK}"
        )
        found.append(_violation(spec, message, "metadata.namespace"))
    else:
        found += _refs_into_gateway_namespaces(ctx, spec, kind, frozenset())
    return Findings(violations=tuple(found))


WAYPOINT_TARGETS = frozenset({"Service", "ServiceEntry"})


def judge_extension_targets(ctx: Context, obj: JSONObject) -> Findings:
    """WasmPlugin and TrafficExtension loaded into a waypoint in a gateway namespace."""
    spec = as_dict(obj.get("spec"))
    kind = ctx.request.kind.kind
    found = _refs_into_gateway_namespaces(ctx, spec, kind, WAYPOINT_TARGETS)
    return Findings(violations=tuple(found))


# -- Gateway API -------------------------------------------------------------------------


def judge_gateway_api_gateway(ctx: Context, obj: JSONObject) -> Findings:
    """A Gateway API Gateway of one of Istio's classes."""
    spec = as_dict(obj.get("spec"))
    name = spec.get("gatewayClassName")
    if isinstance(name, str) and name not in ISTIO_CLASSES:
        return Findings()
    message = (
        f"Gateway of class {fieldpath.shown(name)} deploys an Istio proxy whose own traffic "
        f"the mesh does not capture; use the shared ingress gateway, or {ASK}"
    )
    violation = _violation(spec, message, "spec.gatewayClassName", fieldpath.shown(name))
    return Findings(violations=(violation,))


def _parent_in_gateway_namespace(
    ctx: Context, spec: dict[str, Any], ref: dict[str, Any], path: str, what: str
) -> Violation | None:
    """``what`` (a route, a ListenerSet) attached through ``ref`` to anything in a gateway
    namespace, whatever its kind: Istio reads only Gateway parents of a ListenerSet today,
    and the next controller may read more."""
    namespace = _ref_namespace(ref, ctx.namespace)
    if namespace not in ctx.policy.config.gateway_namespaces:
        return None
    kind = ref.get("kind", "Gateway")
    target = f"{fieldpath.shown(kind)} {namespace}/{fieldpath.shown(ref.get('name'))}"
    message = (
        f"{what} attaches to {target} in gateway namespace {namespace}; the egress "
        f"gateways' listeners and routes come from the rules repo: {ASK}"
    )
    return _violation(spec, message, path, target)


def route_parents(ctx: Context, spec: dict[str, Any]) -> list[Violation]:
    """A Gateway API route attached to anything in a gateway namespace."""
    found = (
        _parent_in_gateway_namespace(ctx, spec, as_dict(ref), f"spec.parentRefs[{i}]", "route")
        for i, ref in enumerate(as_list(spec.get("parentRefs")))
    )
    return [violation for violation in found if violation is not None]


def judge_listener_set(ctx: Context, obj: JSONObject) -> Findings:
    """A Gateway API ListenerSet whose parent is in a gateway namespace."""
    spec = as_dict(obj.get("spec"))
    violation = _parent_in_gateway_namespace(
        ctx, spec, as_dict(spec.get("parentRef")), "spec.parentRef", "ListenerSet"
    )
    return Findings(violations=() if violation is None else (violation,))
