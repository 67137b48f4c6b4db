"""The bootstrap of one per-destination Envoy (seed 003): a proxy to one destination only.

Per port: HTTP gets an HTTP connection manager (routes by Host to the destination's names,
runs the DLP filter, originates TLS when the destination asks); HTTPS and TLS get a TCP
proxy chosen by SNI, one filter chain per name, so a connection naming anything else is
closed; TCP, which carries no name, goes to the destination's first name.

Every upstream is a LOGICAL_DNS cluster that resolves the destination's name itself. By
default it asks the cluster DNS, as every pod does: c-ares with no resolvers configured
reads the pod's /etc/resolv.conf. It asks for ``<name>.upstream.egressguard.invalid``,
which the rendered CoreDNS rules rewrite to the real name and answer for that name, since
asking for the name itself would return this Envoy's own Service (CoreDNS rewrites the
destination's names to it). With ``--upstream-dns`` it asks those resolvers for the real
name instead, bypassing the cluster DNS.

:class:`EnvoyOverrides` points the same config at a local upstream for tests; it replaces
addresses and ports only, never the logic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from webhook.model.rules import Port
from webhook.render.dlp import lua_source
from webhook.render.objects import Document
from webhook.render.plan import DNS_PORT, UPSTREAM_DNS_SUFFIX, DestinationPlan, RenderOptions

ADMIN_PORT = 9901
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
MAX_DOWNSTREAM_CONNECTIONS = 50_000

_TYPE = "type.googleapis.com/envoy.extensions"
TCP_PROXY = f"{_TYPE}.filters.network.tcp_proxy.v3.TcpProxy"
HCM = f"{_TYPE}.filters.network.http_connection_manager.v3.HttpConnectionManager"
TLS_INSPECTOR = f"{_TYPE}.filters.listener.tls_inspector.v3.TlsInspector"
LUA = f"{_TYPE}.filters.http.lua.v3.Lua"
ROUTER = f"{_TYPE}.filters.http.router.v3.Router"
STDOUT_LOG = f"{_TYPE}.access_loggers.stream.v3.StdoutAccessLog"
UPSTREAM_TLS = f"{_TYPE}.transport_sockets.tls.v3.UpstreamTlsContext"
CARES = f"{_TYPE}.network.dns_resolver.cares.v3.CaresDnsResolverConfig"
DOWNSTREAM_CONNECTIONS = (
    f"{_TYPE}.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig"
)


@dataclass(frozen=True, slots=True)
class EnvoyOverrides:
    """Addresses for running a rendered config somewhere else (a test on 127.0.0.1).

    ``listener_ports`` maps a destination port to the local port to listen on (0 picks
    one); ``upstream`` replaces every upstream's address and port, ``upstream_port`` only
    the port (the name is still resolved); ``trusted_ca`` the CA bundle TLS origination
    verifies against. SNI and the name checked in the upstream's certificate stay the
    destination's.
    """

    listener_address: str = "0.0.0.0"
    listener_ports: Mapping[int, int] = field(default_factory=dict)
    upstream: tuple[str, int] | None = None
    upstream_port: int | None = None
    trusted_ca: str | None = None
    admin_address: str = "127.0.0.1"
    admin_port: int | None = None


def container_ports(ports: tuple[Port, ...]) -> dict[int, int]:
    """Destination port -> the port Envoy listens on in the pod, unprivileged.

    Ports below 1024 move up by 10000 (443 -> 10443) so Envoy runs without
    NET_BIND_SERVICE; a clash with another listed port moves on to the next free one.
    """
    taken = {port.number for port in ports if port.number >= 1024}
    mapping: dict[int, int] = {}
    for port in sorted(ports, key=lambda p: p.number):
        candidate = port.number if port.number >= 1024 else port.number + 10_000
        while candidate in taken and candidate != port.number:
            candidate += 1
        taken.add(candidate)
        mapping[port.number] = candidate
    return mapping


def admin_port(listening: Mapping[int, int]) -> int:
    port = ADMIN_PORT
    while port in listening.values():
        port += 1
    return port


def listener_name(port: Port) -> str:
    return f"{port.protocol.lower()}_{port.number}"


def cluster_name(host: str, port: int, *, tls: bool = False) -> str:
    """``api.stripe.com:443``; ``+tls`` when Envoy originates TLS on it (a destination may
    pass TLS through on 443 and originate it from 80 to the same host:443)."""
    return f"{host}:{port}+tls" if tls else f"{host}:{port}"


def served_hosts(plan: DestinationPlan, port: Port) -> tuple[str, ...]:
    """The names a port serves: all concrete names, or the first for TCP (no name on it)."""
    hosts = plan.concrete_hosts
    if port.protocol == "TCP":
        return hosts[:1]
    return hosts


def _stdout_log() -> list[Document]:
    return [{"name": "envoy.access_loggers.stdout", "typed_config": {"@type": STDOUT_LOG}}]


def _tcp_proxy(plan: DestinationPlan, host: str, port: Port) -> Document:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": TCP_PROXY,
            "stat_prefix": f"{plan.name}_{port.number}",
            "cluster": cluster_name(host, plan.upstream_port(port), tls=plan.originates_tls(port)),
            "access_log": _stdout_log(),
        },
    }


def _http_filters(plan: DestinationPlan, port: Port) -> list[Document]:
    filters: list[Document] = []
    if port in plan.dlp_ports():
        filters.append(
            {
                "name": "envoy.filters.http.lua",
                "typed_config": {
                    "@type": LUA,
                    "default_source_code": {
                        "inline_string": lua_source(
                            destination=plan.name,
                            hosts=plan.concrete_hosts,
                            patterns=plan.dlp_patterns(),
                        )
                    },
                },
            }
        )
    filters.append({"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}})
    return filters


def _http_connection_manager(plan: DestinationPlan, port: Port) -> Document:
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": HCM,
            "stat_prefix": f"{plan.name}_{port.number}",
            # The Host header names the destination; its port is whatever the pod dialled.
            "strip_any_host_port": True,
            "access_log": _stdout_log(),
            "route_config": {
                "name": f"{plan.name}_{port.number}",
                "virtual_hosts": [
                    {
                        "name": host,
                        "domains": [host],
                        "routes": [
                            {
                                "match": {"prefix": "/"},
                                # No route timeout, as in Istio: uploads may be slow.
                                "route": {
                                    "cluster": cluster_name(
                                        host,
                                        plan.upstream_port(port),
                                        tls=plan.originates_tls(port),
                                    ),
                                    "timeout": "0s",
                                },
                            }
                        ],
                    }
                    for host in served_hosts(plan, port)
                ],
            },
            "http_filters": _http_filters(plan, port),
        },
    }


def _listener(
    plan: DestinationPlan, port: Port, listen_port: int, overrides: EnvoyOverrides
) -> Document:
    listener: Document = {
        "name": listener_name(port),
        "address": {
            "socket_address": {
                "address": overrides.listener_address,
                "port_value": overrides.listener_ports.get(port.number, listen_port),
            }
        },
    }
    if port.protocol == "HTTP":
        listener["filter_chains"] = [{"filters": [_http_connection_manager(plan, port)]}]
    elif port.protocol == "TCP":
        host = served_hosts(plan, port)[0]
        listener["filter_chains"] = [{"filters": [_tcp_proxy(plan, host, port)]}]
    else:
        listener["listener_filters"] = [
            {
                "name": "envoy.filters.listener.tls_inspector",
                "typed_config": {"@type": TLS_INSPECTOR},
            }
        ]
        listener["filter_chains"] = [
            {
                "filter_chain_match": {"server_names": [host]},
                "filters": [_tcp_proxy(plan, host, port)],
            }
            for host in served_hosts(plan, port)
        ]
    return listener


def _upstream_tls(host: str, overrides: EnvoyOverrides) -> Document:
    """TLS origination that verifies the destination's certificate and name."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": UPSTREAM_TLS,
            "sni": host,
            "common_tls_context": {
                "validation_context": {
                    "trusted_ca": {"filename": overrides.trusted_ca or SYSTEM_CA_BUNDLE},
                    "match_typed_subject_alt_names": [
                        {"san_type": "DNS", "matcher": {"exact": host}}
                    ],
                }
            },
        },
    }


def upstream_dns_name(host: str, options: RenderOptions) -> str:
    """The name the Envoy resolves to reach ``host``: the marked name the cluster DNS
    rewrites back to ``host``, or ``host`` itself when explicit resolvers are asked."""
    return host if options.upstream_resolvers else f"{host}.{UPSTREAM_DNS_SUFFIX}"


def _resolver(options: RenderOptions) -> Document:
    """c-ares, without search domains (the name asked is the whole name); with no
    ``resolvers`` it reads the pod's /etc/resolv.conf: the cluster DNS."""
    config: Document = {
        "@type": CARES,
        "dns_resolver_options": {"no_default_search_domain": True},
    }
    if options.upstream_resolvers:
        config["resolvers"] = [
            {"socket_address": {"address": resolver, "port_value": DNS_PORT}}
            for resolver in options.upstream_resolvers
        ]
    return {"name": "envoy.network.dns_resolver.cares", "typed_config": config}


def _cluster(
    host: str, port: int, *, tls: bool, options: RenderOptions, overrides: EnvoyOverrides
) -> Document:
    name = cluster_name(host, port, tls=tls)
    address, port_value = overrides.upstream or (
        upstream_dns_name(host, options),
        port if overrides.upstream_port is None else overrides.upstream_port,
    )
    cluster: Document = {
        "name": name,
        "type": "LOGICAL_DNS",
        "connect_timeout": "5s",
        "dns_lookup_family": "V4_ONLY",
        "typed_dns_resolver_config": _resolver(options),
        "upstream_connection_options": {
            "tcp_keepalive": {"keepalive_probes": 3, "keepalive_time": 30, "keepalive_interval": 5}
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": address,
                                        "port_value": port_value,
                                    }
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
    if tls:
        cluster["transport_socket"] = _upstream_tls(host, overrides)
    return cluster


def bootstrap(
    plan: DestinationPlan, options: RenderOptions, *, overrides: EnvoyOverrides | None = None
) -> Document:
    """The whole envoy.yaml of one destination's gateway, as a dict."""
    overrides = overrides or EnvoyOverrides()
    listening = container_ports(plan.ports)
    listeners = []
    clusters: dict[str, Document] = {}
    for port in plan.ports:
        if not served_hosts(plan, port):
            continue
        listeners.append(_listener(plan, port, listening[port.number], overrides))
        upstream = plan.upstream_port(port)
        tls = plan.originates_tls(port)
        for host in served_hosts(plan, port):
            name = cluster_name(host, upstream, tls=tls)
            if name not in clusters:
                clusters[name] = _cluster(
                    host, upstream, tls=tls, options=options, overrides=overrides
                )
    return {
        "node": {"id": plan.name, "cluster": plan.name},
        "admin": {
            "address": {
                "socket_address": {
                    "address": overrides.admin_address,
                    "port_value": (
                        overrides.admin_port
                        if overrides.admin_port is not None
                        else admin_port(listening)
                    ),
                }
            }
        },
        "static_resources": {"listeners": listeners, "clusters": list(clusters.values())},
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": DOWNSTREAM_CONNECTIONS,
                        "max_active_downstream_connections": MAX_DOWNSTREAM_CONNECTIONS,
                    },
                }
            ]
        },
    }
