"""Routes a team writes for itself: VirtualServices, DestinationRules, Gateway API routes.

A team's route for an external host takes precedence in its namespace (and in every
namespace it is exported to) and sends the traffic straight out, around the gateway and its
per-identity policy. So from an untrusted principal (``egress-route``):

- a VirtualService whose ``hosts`` name an external host while it applies to sidecars
  (``gateways`` absent, or listing ``mesh``): bound only to gateways, its hosts are what the
  gateway answers for, and only its destinations matter;
- a route destination or mirror naming an external host, wherever the route is bound;
- a DestinationRule whose ``host`` is external;
- a Gateway API route whose backend is an Istio ``Hostname`` that is external.

VirtualServices bound to a gateway's namespace are ``gateway-config``
(:func:`webhook.engine.gateways.virtual_service_bindings`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from webhook.engine import fieldpath
from webhook.engine.context import Context, Findings, as_dict, as_list
from webhook.engine.external import (
    is_external,
    outside_message,
    route_message,
    spanned_destination,
    spanning_message,
)
from webhook.engine.gateways import MESH, route_parents, virtual_service_bindings
from webhook.model.decision import Code, Violation
from webhook.model.hosts import normalize_host
from webhook.model.review import JSONObject

ROUTE_SECTIONS = ("http", "tls", "tcp")
ISTIO_GROUP = "networking.istio.io"
HOSTNAME_KIND = "Hostname"


def _violation(message: str, path: str, value: str) -> Violation:
    return Violation(Code.EGRESS_ROUTE, message, path, infrastructure=True, value=value)


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _judge_host(ctx: Context, host: Any, path: str, what: str, port: int | None) -> list[Violation]:
    if isinstance(host, str) and not is_external(host, ctx.policy.config):
        return []
    if not isinstance(host, str):
        return [_violation(outside_message(what, host), path, fieldpath.shown(host))]
    covering = ctx.policy.destination_covering(normalize_host(host))
    spanned = spanned_destination(ctx.policy, host)
    if covering is not None:
        message = route_message(what, host, covering, ctx.namespace, port)
    elif spanned is not None:
        message = spanning_message(what, host, spanned)
    else:
        message = outside_message(what, host)
    return [_violation(message, path, host)]


def _destinations(spec: dict[str, Any]) -> Iterator[tuple[str, Any, int | None]]:
    """(path, host, port) of every destination a VirtualService sends traffic to."""
    for section in ROUTE_SECTIONS:
        for i, rule in enumerate(as_list(spec.get(section))):
            rule = as_dict(rule)
            base = f"spec.{section}[{i}]"
            for j, route in enumerate(as_list(rule.get("route"))):
                destination = as_dict(as_dict(route).get("destination"))
                port = _integer(as_dict(destination.get("port")).get("number"))
                yield f"{base}.route[{j}].destination.host", destination.get("host"), port
            if "mirror" in rule:
                mirror = as_dict(rule.get("mirror"))
                port = _integer(as_dict(mirror.get("port")).get("number"))
                yield f"{base}.mirror.host", mirror.get("host"), port
            for j, mirror in enumerate(as_list(rule.get("mirrors"))):
                destination = as_dict(as_dict(mirror).get("destination"))
                port = _integer(as_dict(destination.get("port")).get("number"))
                yield f"{base}.mirrors[{j}].destination.host", destination.get("host"), port


def _applies_to_sidecars(spec: dict[str, Any]) -> bool:
    gateways = as_list(spec.get("gateways"))
    return not gateways or MESH in gateways


def judge_virtual_service(ctx: Context, obj: JSONObject) -> Findings:
    """``egress-route`` for external hosts and destinations; ``gateway-config`` for
    bindings to a gateway namespace."""
    spec = as_dict(obj.get("spec"))
    found: list[Violation] = []
    if _applies_to_sidecars(spec):
        for i, host in enumerate(as_list(spec.get("hosts"))):
            found += _judge_host(ctx, host, f"spec.hosts[{i}]", "VirtualService host", None)
    for path, host, port in _destinations(spec):
        found += _judge_host(ctx, host, path, "route destination", port)
    found += virtual_service_bindings(ctx, spec)
    return Findings(violations=tuple(found))


def judge_destination_rule(ctx: Context, obj: JSONObject) -> Findings:
    """``egress-route`` for a DestinationRule whose ``host`` is external."""
    spec = as_dict(obj.get("spec"))
    found = _judge_host(ctx, spec.get("host"), "spec.host", "DestinationRule host", None)
    return Findings(violations=tuple(found))


def _hostname_backends(spec: dict[str, Any]) -> Iterator[tuple[str, Any, int | None]]:
    """(path, host, port) of each Istio ``Hostname`` backend of a Gateway API route, the
    request mirrors' included: that backend sends traffic to the host as it is named."""
    stack: list[tuple[str, Any]] = [("spec.rules", spec.get("rules"))]
    while stack:
        where, node = stack.pop()
        if isinstance(node, list):
            stack.extend((fieldpath.index(where, i), item) for i, item in enumerate(node))
        elif isinstance(node, dict):
            if node.get("kind") == HOSTNAME_KIND and node.get("group") == ISTIO_GROUP:
                yield f"{where}.name", node.get("name"), _integer(node.get("port"))
            stack.extend((fieldpath.key(where, str(k)), v) for k, v in node.items())


def judge_route(ctx: Context, obj: JSONObject) -> Findings:
    """Gateway API routes: ``gateway-config`` for parents in a gateway namespace,
    ``egress-route`` for external ``Hostname`` backends."""
    spec = as_dict(obj.get("spec"))
    found = route_parents(ctx, spec)
    for path, host, port in _hostname_backends(spec):
        found += _judge_host(ctx, host, path, "backend", port)
    return Findings(violations=tuple(found))

