"""Mode ``istio-ambient`` (seeds 001, 002): ServiceEntries bound to an egress waypoint.

ztunnel sends traffic for a ServiceEntry labelled ``istio.io/use-waypoint`` through that
waypoint, over HBONE mutual TLS, so the waypoint knows the caller's identity; no routing
objects are needed. Per destination:

- one ServiceEntry per name, so each name has its own AuthorizationPolicy;
- one ServiceEntry for its wildcards, resolved per request from the Host or SNI
  (``DYNAMIC_DNS``), its policy narrowed to the granted names by Host or SNI;
- an AuthorizationPolicy per ServiceEntry (``targetRefs``), admitting only the granted
  principals on the granted ports. Every ServiceEntry gets one, even with no rules: a
  waypoint admits everything to a service no ALLOW policy targets;
- TLS origination: the ServiceEntry maps the port to 443 and a DestinationRule says SIMPLE;
- DLP: a TrafficExtension with the Lua filter. EnvoyFilter does not apply to waypoints
  (Istio disabled it there, istio/istio#55149); TrafficExtension is the API that does.

Shared per gateway: the waypoint itself, a Gateway of class ``istio-waypoint`` whose pods
carry the gateway's selector labels (``spec.infrastructure.labels``), so NetworkPolicies and
egressguard's impersonation check select them as in the other modes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from webhook.model.rules import Gateway, Port
from webhook.render.dlp import lua_source
from webhook.render.network import (
    GatewayPods,
    destination_policies,
    gateway_control_plane_policy,
    others_on,
)
from webhook.render.objects import Context, Document, RenderedFile, bounded_name, document
from webhook.render.plan import HBONE_PORT, DestinationPlan, dlp_notes, host_slug
from webhook.render.sidecar import (
    NETWORKING,
    SECURITY,
    origination_rule,
    service_entry_ports,
)

GATEWAY_API = "gateway.networking.k8s.io/v1"
EXTENSIONS = "extensions.istio.io/v1alpha1"
USE_WAYPOINT = "istio.io/use-waypoint"
WAYPOINT_FOR = "istio.io/waypoint-for"


def service_entry_name(plan: DestinationPlan, host: str) -> str:
    return bounded_name(plan.name, host_slug(host))


def wildcard_ports(plan: DestinationPlan) -> tuple[Port, ...]:
    """Ports a wildcard ServiceEntry can serve: the name must come from Host or SNI.

    TCP carries no name; HTTP that asks for TLS origination is left out rather than sent
    in plaintext, as origination per name is not rendered for wildcards.
    """
    return tuple(
        port
        for port in plan.ports
        if port.protocol != "TCP" and not plan.originates_tls(port)
    )


def _service_entry(
    ctx: Context,
    plan: DestinationPlan,
    name: str,
    hosts: tuple[str, ...],
    ports: tuple[Port, ...],
    resolution: str,
) -> Document:
    return document(
        NETWORKING,
        "ServiceEntry",
        ctx.metadata(name, plan.gateway.namespace, labels={USE_WAYPOINT: plan.gateway.name}),
        spec={
            "hosts": list(hosts),
            "ports": service_entry_ports(plan, ports),
            "location": "MESH_EXTERNAL",
            "resolution": resolution,
        },
    )


def _policy(
    ctx: Context, plan: DestinationPlan, target: str, rules: list[Document]
) -> Document:
    annotations = {}
    until = plan.valid_until()
    if until is not None:
        annotations[ctx.key("valid-until")] = until.isoformat()
    spec: Document = {
        "targetRefs": [{"group": "networking.istio.io", "kind": "ServiceEntry", "name": target}],
        "action": "ALLOW",
    }
    if rules:
        spec["rules"] = rules
    return document(
        SECURITY,
        "AuthorizationPolicy",
        ctx.metadata(target, plan.gateway.namespace, annotations=annotations),
        spec=spec,
    )


def _host_rules(ctx: Context, plan: DestinationPlan, host: str) -> list[Document]:
    rules = []
    for port in plan.ports:
        principals = plan.principals(host, port, ctx.options)
        if principals:
            rules.append(
                {
                    "from": [{"source": {"principals": list(principals)}}],
                    "to": [{"operation": {"ports": [str(port.number)]}}],
                }
            )
    return rules


def _wildcard_rules(ctx: Context, plan: DestinationPlan) -> list[Document]:
    """Open: anyone authenticated, any name. Restricted: each granted name by Host or SNI."""
    rules = []
    for port in wildcard_ports(plan):
        if plan.open:
            rules.append(
                {
                    "from": [{"source": {"principals": ["*"]}}],
                    "to": [{"operation": {"ports": [str(port.number)]}}],
                }
            )
            continue
        for name in plan.granted_names:
            principals = plan.principals(name, port, ctx.options)
            if not principals:
                continue
            operation: Document = {"ports": [str(port.number)]}
            rule: Document = {
                "from": [{"source": {"principals": list(principals)}}],
                "to": [{"operation": operation}],
            }
            if port.protocol == "HTTP":
                operation["hosts"] = [name, f"{name}:*"]
            else:
                rule["when"] = [{"key": "connection.sni", "values": [name]}]
            rules.append(rule)
    return rules


def _dlp(ctx: Context, plan: DestinationPlan, targets: list[str]) -> Document:
    return document(
        EXTENSIONS,
        "TrafficExtension",
        ctx.metadata(bounded_name(plan.name, "dlp"), plan.gateway.namespace),
        spec={
            "targetRefs": [
                {"group": "networking.istio.io", "kind": "ServiceEntry", "name": target}
                for target in targets
            ],
            # After the authorization filters: refused callers are never inspected.
            "phase": "STATS",
            "lua": {
                "inlineCode": lua_source(
                    destination=plan.name,
                    hosts=plan.exact_hosts + plan.wildcard_hosts,
                    patterns=plan.dlp_patterns(),
                )
            },
        },
    )


GatewayIndex = Mapping[str, Sequence[str]]


def gateway_index(ctx: Context) -> GatewayIndex:
    """Gateway -> its destinations, in plan order."""
    index: dict[str, list[str]] = {}
    for plan in ctx.plans:
        index.setdefault(plan.gateway.name, []).append(plan.name)
    return index


def gateway_pods(
    ctx: Context, plan: DestinationPlan, index: GatewayIndex | None = None
) -> GatewayPods:
    """Every destination on a waypoint shares its HBONE port."""
    names = (index if index is not None else gateway_index(ctx)).get(plan.gateway.name)
    shown, count = others_on(names or (plan.name,), plan.name)
    return GatewayPods(
        namespace=plan.gateway.namespace,
        selector=plan.gateway.selector,
        ports=(HBONE_PORT,),
        shared_with={HBONE_PORT: shown},
        shared_count={HBONE_PORT: count},
    )


def notes(plan: DestinationPlan) -> tuple[str, ...]:
    found = []
    if plan.wildcard_hosts:
        found.append(
            f"{', '.join(plan.wildcard_hosts)}: DYNAMIC_DNS ServiceEntry on the waypoint (a "
            "recent Istio with wildcard ServiceEntry support in ambient, and ztunnel's DNS "
            "proxy); the waypoint resolves the name each request carries."
        )
        left_out = [port for port in plan.ports if port not in wildcard_ports(plan)]
        for port in left_out:
            found.append(
                f"Port {port.number}/{port.protocol} not served for the wildcards: "
                + (
                    "TCP carries no name to resolve."
                    if port.protocol == "TCP"
                    else "TLS origination is rendered per name only."
                )
            )
    if not plan.open and not plan.grants:
        found.append("No active grants: every AuthorizationPolicy here admits nobody.")
    until = plan.valid_until()
    if until is not None:
        found.append(
            f"A grant in these policies expires after {until.isoformat()}: render again then, "
            "or the waypoint keeps admitting it."
        )
    found += dlp_notes(
        plan, proxy="waypoint",
        mechanism="TrafficExtension with a Lua filter; EnvoyFilter does not apply to waypoints",
    )
    return tuple(found)


def destination_file(
    ctx: Context, plan: DestinationPlan, index: GatewayIndex | None = None
) -> RenderedFile:
    documents: list[Document] = []
    dlp_targets: list[str] = []
    dlp_ports = set(plan.dlp_ports())
    for host in plan.exact_hosts:
        name = service_entry_name(plan, host)
        documents.append(_service_entry(ctx, plan, name, (host,), plan.ports, "DNS"))
        origination = origination_rule(ctx, plan, host)
        if origination is not None:
            documents.append(origination)
        documents.append(_policy(ctx, plan, name, _host_rules(ctx, plan, host)))
        if dlp_ports:
            dlp_targets.append(name)
    if plan.wildcard_hosts and wildcard_ports(plan):
        name = bounded_name(plan.name, "wildcard")
        documents.append(
            _service_entry(
                ctx, plan, name, plan.wildcard_hosts, wildcard_ports(plan), "DYNAMIC_DNS"
            )
        )
        documents.append(_policy(ctx, plan, name, _wildcard_rules(ctx, plan)))
        if dlp_ports & set(wildcard_ports(plan)):
            dlp_targets.append(name)
    if dlp_targets:
        documents.append(_dlp(ctx, plan, dlp_targets))
    documents += destination_policies(ctx, plan, gateway_pods(ctx, plan, index))
    return RenderedFile(f"destination-{plan.name}.yaml", notes(plan), tuple(documents))


def gateway_file(ctx: Context, gateway: Gateway) -> RenderedFile:
    waypoint = document(
        GATEWAY_API,
        "Gateway",
        ctx.metadata(gateway.name, gateway.namespace, labels={WAYPOINT_FOR: "service"}),
        spec={
            "gatewayClassName": "istio-waypoint",
            # The waypoint's pods carry the configured selector, as a sidecar-mode gateway.
            "infrastructure": {"labels": dict(sorted(gateway.selector.items()))},
            "listeners": [{"name": "mesh", "port": HBONE_PORT, "protocol": "HBONE"}],
        },
    )
    return RenderedFile(
        f"gateway-{gateway.name}.yaml",
        (
            f"Egress waypoint {gateway.namespace}/{gateway.name}. The namespace "
            f"{gateway.namespace} must be in the ambient mesh "
            "(istio.io/dataplane-mode=ambient) and the workload namespaces too.",
            "Every destination on this waypoint shares its HBONE port 15008: the "
            "NetworkPolicies admit any entitled pod and the AuthorizationPolicy on each "
            "ServiceEntry tells the destinations apart.",
        ),
        (waypoint, gateway_control_plane_policy(ctx, gateway.namespace, gateway.selector)),
    )


def _used_gateways(ctx: Context) -> list[Gateway]:
    used = {plan.gateway.name for plan in ctx.plans}
    return [gateway for gateway in ctx.policy.config.gateways if gateway.name in used]


def files(ctx: Context) -> tuple[RenderedFile, ...]:
    index = gateway_index(ctx)
    return (
        *(gateway_file(ctx, gateway) for gateway in _used_gateways(ctx)),
        *(destination_file(ctx, plan, index) for plan in ctx.plans),
    )
