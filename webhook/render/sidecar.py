"""Mode ``istio-sidecar``: the five objects of seed 000 per destination, sequenced for you.

Traffic goes pod sidecar -> egress gateway over Istio mutual TLS (so the gateway knows the
caller's service account), then out. The sidecar sets the SNI of that mTLS hop to the
destination name, which is how the gateway picks the right server, route and policy:

- ServiceEntry: the destination's names and ports (DNS resolution, outside the mesh);
- Gateway: one ISTIO_MUTUAL server per name and port on the egress gateway's pods, bindable
  only by VirtualServices in the gateway's namespace (``./name``);
- DestinationRule on the gateway Service: one subset per name, whose mTLS carries that SNI;
- VirtualService per name: mesh -> gateway subset, gateway -> the destination;
- DestinationRule per name for TLS origination when the destination asks for it;
- AuthorizationPolicy on the gateway: only the granted principals, per name (SNI, or Host
  for HTTP) and port; open destinations admit any authenticated principal;
- EnvoyFilter with the DLP Lua filter where the gateway sees plaintext.

A wildcard cannot be routed this way: past the mTLS hop the gateway sees only the SNI the
sidecar chose, one name per subset. The names granted under a wildcard are routed instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from webhook.model.rules import Gateway, Port
from webhook.render.dlp import lua_source
from webhook.render.envoy_config import LUA
from webhook.render.network import (
    GatewayPods,
    destination_policies,
    gateway_control_plane_policy,
    others_on,
)
from webhook.render.objects import Context, Document, RenderedFile, bounded_name, document
from webhook.render.plan import DestinationPlan, dlp_notes, host_slug

NETWORKING = "networking.istio.io/v1"
SECURITY = "security.istio.io/v1"
ENVOY_FILTER = "networking.istio.io/v1alpha3"


def mesh_protocol(port: Port) -> str:
    """The ServiceEntry protocol: HTTPS and TLS are both routed by SNI, unopened."""
    return {"HTTPS": "TLS", "TLS": "TLS", "TCP": "TCP"}.get(port.protocol, "HTTP")


def se_port_name(port: Port) -> str:
    return f"{mesh_protocol(port).lower()}-{port.number}"


def subset_name(plan: DestinationPlan, host: str) -> str:
    return bounded_name(plan.name, host_slug(host))


def gateway_ref(plan: DestinationPlan) -> str:
    return f"{plan.gateway.namespace}/{plan.name}"


def service_entry_ports(plan: DestinationPlan, ports: tuple[Port, ...]) -> list[Document]:
    """ServiceEntry ports; ``targetPort`` where the gateway dials another port (TLS
    origination: 80 from the pod, 443 to the destination)."""
    entries = []
    for port in ports:
        entry: Document = {
            "number": port.number,
            "name": se_port_name(port),
            "protocol": mesh_protocol(port),
        }
        if plan.upstream_port(port) != port.number:
            entry["targetPort"] = plan.upstream_port(port)
        entries.append(entry)
    return entries


def _service_entry(ctx: Context, plan: DestinationPlan) -> Document:
    ports = service_entry_ports(plan, plan.ports)
    return document(
        NETWORKING,
        "ServiceEntry",
        ctx.metadata(plan.name, plan.gateway.namespace),
        spec={
            "hosts": list(plan.concrete_hosts),
            "ports": ports,
            "location": "MESH_EXTERNAL",
            "resolution": "DNS",
        },
    )


def _gateway(ctx: Context, plan: DestinationPlan) -> Document:
    servers = [
        {
            "port": {
                "number": port.number,
                "name": bounded_name(se_port_name(port), host_slug(host)),
                # HTTP arrives inside the mTLS hop: terminate it and speak HTTP.
                "protocol": "HTTPS" if port.protocol == "HTTP" else "TLS",
            },
            # "./": only VirtualServices in the gateway's namespace may bind to this
            # server. Otherwise any namespace could route a granted name elsewhere.
            "hosts": [f"./{host}"],
            "tls": {"mode": "ISTIO_MUTUAL"},
        }
        for port in plan.ports
        for host in plan.concrete_hosts
    ]
    return document(
        NETWORKING,
        "Gateway",
        ctx.metadata(plan.name, plan.gateway.namespace),
        spec={"selector": dict(sorted(plan.gateway.selector.items())), "servers": servers},
    )


def _gateway_destination_rule(ctx: Context, plan: DestinationPlan) -> Document:
    return document(
        NETWORKING,
        "DestinationRule",
        ctx.metadata(bounded_name(plan.name, "gateway"), plan.gateway.namespace),
        spec={
            "host": gateway_service(ctx, plan.gateway),
            "subsets": [
                {
                    "name": subset_name(plan, host),
                    "trafficPolicy": {
                        "portLevelSettings": [
                            {
                                "port": {"number": port.number},
                                "tls": {"mode": "ISTIO_MUTUAL", "sni": host},
                            }
                            for port in plan.ports
                        ]
                    },
                }
                for host in plan.concrete_hosts
            ],
        },
    )


def origination_rule(ctx: Context, plan: DestinationPlan, host: str) -> Document | None:
    """The DestinationRule with which the gateway (or waypoint) originates TLS to ``host``."""
    ports = [port for port in plan.ports if plan.originates_tls(port)]
    if not ports:
        return None
    return document(
        NETWORKING,
        "DestinationRule",
        ctx.metadata(bounded_name(plan.name, "tls", host_slug(host)), plan.gateway.namespace),
        spec={
            "host": host,
            # Only the gateway, in this namespace, dials the destination.
            "exportTo": ["."],
            "trafficPolicy": {
                "portLevelSettings": [
                    {
                        "port": {"number": port.number},
                        "tls": {"mode": "SIMPLE", "sni": host, "subjectAltNames": [host]},
                    }
                    for port in ports
                ]
            },
        },
    )


def _origination_rules(ctx: Context, plan: DestinationPlan) -> list[Document]:
    rules = (origination_rule(ctx, plan, host) for host in plan.concrete_hosts)
    return [rule for rule in rules if rule is not None]


def _virtual_service(ctx: Context, plan: DestinationPlan, host: str) -> Document:
    gateway_host = gateway_service(ctx, plan.gateway)
    subset = subset_name(plan, host)
    tls: list[Document] = []
    tcp: list[Document] = []
    http: list[Document] = []
    for port in plan.ports:
        to_gateway = [
            {
                "destination": {
                    "host": gateway_host,
                    "subset": subset,
                    "port": {"number": port.number},
                }
            }
        ]
        out = [{"destination": {"host": host, "port": {"number": port.number}}}]
        from_mesh = {"gateways": ["mesh"], "port": port.number}
        from_gateway = {"gateways": [gateway_ref(plan)], "port": port.number}
        if port.protocol == "HTTP":
            http.append({"match": [from_mesh], "route": to_gateway})
            http.append({"match": [from_gateway], "route": out})
        elif port.protocol == "TCP":
            tcp.append({"match": [from_mesh], "route": to_gateway})
            tcp.append({"match": [from_gateway], "route": out})
        else:
            tls.append({"match": [{**from_mesh, "sniHosts": [host]}], "route": to_gateway})
            tcp.append({"match": [from_gateway], "route": out})
    spec: Document = {"hosts": [host], "gateways": ["mesh", gateway_ref(plan)]}
    for key, routes in (("http", http), ("tls", tls), ("tcp", tcp)):
        if routes:
            spec[key] = routes
    return document(
        NETWORKING,
        "VirtualService",
        ctx.metadata(bounded_name(plan.name, host_slug(host)), plan.gateway.namespace),
        spec=spec,
    )


def _rules(ctx: Context, plan: DestinationPlan) -> list[Document]:
    rules = []
    for host in plan.concrete_hosts:
        for port in plan.ports:
            principals = plan.principals(host, port, ctx.options)
            if not principals:
                continue
            operation: Document = {}
            if port.protocol == "HTTP":
                operation["hosts"] = [host, f"{host}:*"]
            operation["ports"] = [str(ctx.options.gateway_pod_port(port.number))]
            rule: Document = {
                "from": [{"source": {"principals": list(principals)}}],
                "to": [{"operation": operation}],
            }
            if port.protocol != "HTTP":
                rule["when"] = [{"key": "connection.sni", "values": [host]}]
            rules.append(rule)
    return rules


def _authorization_policy(ctx: Context, plan: DestinationPlan) -> Document:
    annotations = {}
    until = plan.valid_until()
    if until is not None:
        annotations[ctx.key("valid-until")] = until.isoformat()
    spec: Document = {
        "selector": {"matchLabels": dict(sorted(plan.gateway.selector.items()))},
        "action": "ALLOW",
    }
    rules = _rules(ctx, plan)
    if rules:
        spec["rules"] = rules
    return document(
        SECURITY,
        "AuthorizationPolicy",
        ctx.metadata(plan.name, plan.gateway.namespace, annotations=annotations),
        spec=spec,
    )


def lua_filter(plan: DestinationPlan, hosts: Iterable[str]) -> Document:
    return {
        "name": f"egressguard.dlp.{plan.name}",
        "typed_config": {
            "@type": LUA,
            "default_source_code": {
                "inline_string": lua_source(
                    destination=plan.name, hosts=hosts, patterns=plan.dlp_patterns()
                )
            },
        },
    }


def _dlp_filter(ctx: Context, plan: DestinationPlan) -> Document:
    patches = [
        {
            "applyTo": "HTTP_FILTER",
            "match": {
                "context": "GATEWAY",
                "listener": {
                    "portNumber": ctx.options.gateway_pod_port(port.number),
                    "filterChain": {
                        "filter": {
                            "name": "envoy.filters.network.http_connection_manager",
                            "subFilter": {"name": "envoy.filters.http.router"},
                        }
                    },
                },
            },
            # Before the router, so after the authorization filters.
            "patch": {"operation": "INSERT_BEFORE", "value": lua_filter(plan, plan.concrete_hosts)},
        }
        for port in plan.dlp_ports()
    ]
    return document(
        ENVOY_FILTER,
        "EnvoyFilter",
        ctx.metadata(bounded_name(plan.name, "dlp"), plan.gateway.namespace),
        spec={
            "workloadSelector": {"labels": dict(sorted(plan.gateway.selector.items()))},
            "configPatches": patches,
        },
    )


def gateway_service(ctx: Context, gateway: Gateway) -> str:
    """The gateway's Service, assumed to be named after the gateway in its namespace."""
    return ctx.service_host(gateway.name, gateway.namespace)


def pod_ports(ctx: Context, plan: DestinationPlan) -> tuple[int, ...]:
    return tuple(sorted({ctx.options.gateway_pod_port(port.number) for port in plan.ports}))


PortIndex = Mapping[str, Mapping[int, Sequence[str]]]


def port_index(ctx: Context) -> PortIndex:
    """Gateway -> pod port -> the destinations routed through it there, in plan order."""
    index: dict[str, dict[int, list[str]]] = {}
    for plan in ctx.plans:
        if plan.concrete_hosts:
            ports = index.setdefault(plan.gateway.name, {})
            for port in pod_ports(ctx, plan):
                ports.setdefault(port, []).append(plan.name)
    return index


def gateway_pods(
    ctx: Context, plan: DestinationPlan, index: PortIndex | None = None
) -> GatewayPods:
    """``plan``'s gateway pods (which route it: it has names), and who else they carry."""
    on_gateway = (index if index is not None else port_index(ctx)).get(plan.gateway.name, {})
    ports = pod_ports(ctx, plan)
    shared = {port: others_on(on_gateway.get(port, (plan.name,)), plan.name) for port in ports}
    return GatewayPods(
        namespace=plan.gateway.namespace,
        selector=plan.gateway.selector,
        ports=ports,
        shared_with={port: shown for port, (shown, _) in shared.items()},
        shared_count={port: count for port, (_, count) in shared.items()},
    )


def notes(ctx: Context, plan: DestinationPlan) -> tuple[str, ...]:
    found = []
    if plan.wildcard_hosts:
        granted = ", ".join(plan.granted_names) or "none"
        found.append(
            f"{', '.join(plan.wildcard_hosts)} not rendered: past the sidecar's mTLS hop the "
            "egress gateway sees only the SNI the sidecar set, one name per subset, and Istio "
            "does not route wildcard (DYNAMIC_DNS) ServiceEntries through an egress Gateway. "
            f"Rendered instead the names granted under it: {granted}."
        )
    if not plan.concrete_hosts:
        found.append(f"Nothing to route for {plan.name}: no name it covers can be routed.")
        return tuple(found)
    if not plan.open and not plan.grants:
        found.append("No active grants: the AuthorizationPolicy admits nobody.")
    until = plan.valid_until()
    if until is not None:
        found.append(
            f"A grant in this policy expires after {until.isoformat()}: render again then, or "
            "the gateway keeps admitting it."
        )
    if any(port.protocol == "TCP" for port in plan.ports):
        found.append(
            "TCP ports are told apart by address only: the sidecars need Istio's DNS proxy "
            "with address auto-allocation so each name gets its own address."
        )
    found += dlp_notes(
        plan, proxy="gateway", blind="; the gateway sees the SNI only",
        mechanism="EnvoyFilter with a Lua filter on the egress gateway",
    )
    return tuple(found)


def destination_file(
    ctx: Context, plan: DestinationPlan, index: PortIndex | None = None
) -> RenderedFile:
    name = f"destination-{plan.name}.yaml"
    if not plan.concrete_hosts:
        return RenderedFile(name, notes(ctx, plan), ())
    documents = [
        _service_entry(ctx, plan),
        _gateway(ctx, plan),
        _gateway_destination_rule(ctx, plan),
        *_origination_rules(ctx, plan),
        *(_virtual_service(ctx, plan, host) for host in plan.concrete_hosts),
        _authorization_policy(ctx, plan),
    ]
    if plan.dlp_ports():
        documents.append(_dlp_filter(ctx, plan))
    documents += destination_policies(ctx, plan, gateway_pods(ctx, plan, index))
    return RenderedFile(name, notes(ctx, plan), tuple(documents))


def gateway_file(ctx: Context, gateway: Gateway) -> RenderedFile:
    plans = [p for p in ctx.plans if p.gateway.name == gateway.name and p.concrete_hosts]
    service_ports = sorted({port.number for plan in plans for port in plan.ports})
    pod = sorted({ctx.options.gateway_pod_port(number) for number in service_ports})
    allow_nothing = document(
        SECURITY,
        "AuthorizationPolicy",
        ctx.metadata("egressguard-allow-nothing", gateway.namespace),
        # ALLOW with no rules matches nothing: the gateway admits only what the
        # destinations' policies allow, even with none of them applied.
        spec={
            "selector": {"matchLabels": dict(sorted(gateway.selector.items()))},
            "action": "ALLOW",
        },
    )
    return RenderedFile(
        f"gateway-{gateway.name}.yaml",
        (
            f"Egress gateway {gateway.namespace}/{gateway.name}: its Service must be named "
            f"{gateway.name} and expose ports {', '.join(map(str, service_ports)) or 'none'}; "
            f"its pods listen on {', '.join(map(str, pod)) or 'none'} (map other pod ports "
            "with --gateway-target-port SERVICE=POD).",
            "The mesh must keep outboundTrafficPolicy REGISTRY_ONLY, or sidecars send "
            "unlisted traffic straight out (egressguard refuses ALLOW_ANY).",
        ),
        (allow_nothing, gateway_control_plane_policy(ctx, gateway.namespace, gateway.selector)),
    )


def files(ctx: Context) -> tuple[RenderedFile, ...]:
    gateways = _used_gateways(ctx)
    index = port_index(ctx)
    return (
        *(gateway_file(ctx, gateway) for gateway in gateways),
        *(destination_file(ctx, plan, index) for plan in ctx.plans),
    )


def _used_gateways(ctx: Context) -> list[Gateway]:
    """Gateways at least one routable destination goes through, in config order."""
    used = {plan.gateway.name for plan in ctx.plans if plan.concrete_hosts}
    return [gateway for gateway in ctx.policy.config.gateways if gateway.name in used]
