"""Istio objects that can open egress: ServiceEntries, WorkloadEntries, Sidecars.

EnvoyFilters (:mod:`webhook.engine.envoyfilter`) and the mesh config
(:mod:`webhook.engine.meshconfig`) have modules of their own; their checks are re-exported
here so that :mod:`webhook.engine.kinds` finds every Istio check in one place.

Every code here is an infrastructure code: trusted principals manage these objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from webhook.engine import fieldpath
from webhook.engine.context import Context, Findings, as_dict, as_list
from webhook.engine.envoyfilter import judge_envoy_filter
from webhook.engine.external import (
    TO_ENDPOINTS,
    entry_is_internal,
    is_external,
    reachable_inside,
    resolution,
    route_message,
    spanned_destination,
    spanning_message,
)
from webhook.engine.meshconfig import judge_mesh_config
from webhook.engine.network import is_address
from webhook.engine.protojson import field, has
from webhook.model.decision import Code, Violation
from webhook.model.hosts import is_wildcard, normalize_host
from webhook.model.review import JSONObject
from webhook.model.rules import Destination

__all__ = [
    "judge_envoy_filter",
    "judge_mesh_config",
    "judge_service_entry",
    "judge_sidecar",
    "judge_workload_entry",
]

ADD_DESTINATION = "ask the security team to add a Destination covering it in the rules repo"


def _violation(code: Code, message: str, path: str) -> Violation:
    return Violation(code, message, path, infrastructure=True)


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- ServiceEntry ------------------------------------------------------------------------


def _ports(spec: dict[str, Any]) -> Iterator[tuple[str, int | None]]:
    """(path, number) of every port the entry sends traffic to; None when unreadable.

    A ``targetPort`` is where traffic really goes, so it must be listed too.
    """
    for i, port in enumerate(as_list(spec.get("ports"))):
        port = as_dict(port)
        yield f"spec.ports[{i}].number", _integer(port.get("number"))
        target = field(port, "targetPort")
        if target not in (None, 0):
            yield f"spec.ports[{i}].targetPort", _integer(target)


def _unlisted_ports(
    ports: list[tuple[str, int | None]], host: str, destination: Destination
) -> Iterator[Violation]:
    for path, number in ports:
        if number is None or not destination.lists_port(number):
            message = (
                f"port {fieldpath.shown(number)} of {fieldpath.shown(host)} is not listed by "
                f"Destination {destination.name}; use a listed port or ask the security team"
            )
            yield _violation(Code.SERVICEENTRY_PORT, message, path)


def _uncovered(host: str, what: str) -> str:
    shown = fieldpath.shown(host)
    if is_wildcard(normalize_host(host)):
        return f"{what} {shown} is broader than any Destination; list the hosts you need"
    return f"{what} {shown} is not covered by any Destination; {ADD_DESTINATION}"


def _first_port(ports: list[tuple[str, int | None]]) -> int | None:
    return next((number for _, number in ports if number is not None), None)


def _host(
    ctx: Context, host: Any, path: str, what: str, *, external_entry: bool, port: int | None
) -> Iterator[Violation]:
    """``egress-route`` for a host a Destination covers (whatever the entry's location);
    ``serviceentry-host`` for any other external host of an entry that leads outside, a
    wildcard broader than the Destinations included."""
    policy = ctx.policy
    if not isinstance(host, str) or not host.strip():
        message = f"{what} {fieldpath.shown(host)} is not a host name"
        yield _violation(Code.SERVICEENTRY_HOST, message, path)
        return
    destination = policy.destination_covering(normalize_host(host))
    if destination is None and external_entry:
        if is_external(host, policy.config):
            yield _violation(Code.SERVICEENTRY_HOST, _uncovered(host, what), path)
        return
    # An entry leading inside still takes over every host it names: a wildcard spanning a
    # Destination's hosts would send their traffic to it.
    if destination is not None:
        message = route_message(f"ServiceEntry {what}", host, destination, ctx.namespace, port)
        yield _violation(Code.EGRESS_ROUTE, message, path)
        return
    spanned = spanned_destination(policy, host)
    if spanned is not None:
        message = spanning_message(f"ServiceEntry {what}", host, spanned)
        yield _violation(Code.EGRESS_ROUTE, message, path)


def _hosts(ctx: Context, spec: dict[str, Any], *, external_entry: bool) -> Iterator[Violation]:
    ports = list(_ports(spec))
    reported: set[str] = set()
    for i, host in enumerate(as_list(spec.get("hosts"))):
        path = f"spec.hosts[{i}]"
        yield from _host(
            ctx, host, path, "host", external_entry=external_entry, port=_first_port(ports)
        )
        if not isinstance(host, str):
            continue
        destination = ctx.policy.destination_covering(normalize_host(host))
        if destination is not None:
            for violation in _unlisted_ports(ports, host, destination):
                if violation.path not in reported:
                    reported.add(violation.path)
                    yield violation


def _endpoints(ctx: Context, spec: dict[str, Any]) -> Iterator[Violation]:
    """An endpoint given as a DNS name is judged as a host; an IP must be internal."""
    port = _first_port(list(_ports(spec)))
    internal = ctx.policy.config.internal_ranges
    for i, endpoint in enumerate(as_list(spec.get("endpoints"))):
        endpoint = as_dict(endpoint)
        path = f"spec.endpoints[{i}].address"
        address = endpoint.get("address")
        if reachable_inside(address, endpoint.get("network"), internal):
            continue
        if isinstance(address, str) and address.strip() and not is_address(address):
            yield from _host(ctx, address, path, "endpoint", external_entry=True, port=port)
            continue
        message = (
            f"endpoint {fieldpath.shown(address)} is outside the internal ranges; "
            "reach external hosts through the egress gateway instead"
        )
        yield _violation(Code.SERVICEENTRY_ADDRESS, message, path)


# Istio's HTTP protocols (pkg/config/protocol/instance.go, IsHTTP; parsed ignoring case).
HTTP_PROTOCOLS = frozenset({"http", "http2", "http_proxy", "grpc", "grpc-web"})


def _passthrough(spec: dict[str, Any]) -> Iterator[Violation]:
    """Resolution NONE (the default) gives the entry an ORIGINAL_DST cluster on sidecars
    (pilot/pkg/networking/core/cluster.go, convertResolution), so its traffic goes to whatever
    address the app dialled, whatever its hosts are named. HTTP ports share the wildcard
    0.0.0.0 listener and match by Host header (listener.go, buildSidecarOutboundListener):
    any address. Other ports bind to the entry's addresses, or to its selected workloads'; with
    neither, to 0.0.0.0 (listener.go, buildSidecarOutboundListeners): any address too."""
    if resolution(spec) in (*TO_ENDPOINTS, "DYNAMIC_DNS"):
        return  # NONE, or a value Istio would not read as another one: fail closed
    bound = False  # a port whose listener binds to the entry's addresses
    for i, port in enumerate(as_list(spec.get("ports"))):
        protocol = as_dict(port).get("protocol")
        http = not isinstance(protocol, str) or protocol.lower() in HTTP_PROTOCOLS
        if protocol is None or not http:  # unset: sniffed on the entry's own listener
            bound = True
            continue
        message = (
            f"resolution NONE sends {fieldpath.shown(protocol)} requests for these hosts to "
            "whatever address the app dials (an original-destination cluster); use STATIC "
            "with internal endpoints, or DNS"
        )
        yield _violation(Code.SERVICEENTRY_HOST, message, f"spec.ports[{i}].protocol")
    if bound and not as_list(spec.get("addresses")) and not has(spec, "workloadSelector"):
        message = (
            "resolution NONE without addresses lets traffic on these ports out to any address, "
            "as addresses 0.0.0.0/0 would; list internal addresses, or use STATIC with "
            "internal endpoints"
        )
        yield _violation(Code.SERVICEENTRY_ADDRESS, message, "spec.resolution")


def judge_service_entry(ctx: Context, obj: JSONObject) -> Findings:
    """``egress-route`` for covered hosts; ``serviceentry-host`` for other external hosts on
    every location (MESH_INTERNAL changes only mTLS: the host still enters every sidecar's
    registry); ``serviceentry-port``; ``serviceentry-address`` for addresses outside; and for
    resolution NONE, which reaches any address, an HTTP port (``serviceentry-host``) or no
    addresses nor workloadSelector (``serviceentry-address``)."""
    spec = as_dict(obj.get("spec"))
    internal = ctx.policy.config.internal_ranges
    found = list(_hosts(ctx, spec, external_entry=not entry_is_internal(spec, internal)))
    for i, address in enumerate(as_list(spec.get("addresses"))):
        if not isinstance(address, str) or not internal.contains(address):
            message = (
                f"address {fieldpath.shown(address)} is outside the internal ranges; "
                "external traffic must go through the egress gateway"
            )
            found.append(_violation(Code.SERVICEENTRY_ADDRESS, message, f"spec.addresses[{i}]"))
    found.extend(_endpoints(ctx, spec))
    found.extend(_passthrough(spec))
    return Findings(violations=tuple(found))


# -- WorkloadEntry, Sidecar --------------------------------------------------------------


def judge_workload_entry(ctx: Context, obj: JSONObject) -> Findings:
    """``external-endpoint`` unless the address is provably inside.

    A host name is judged outside: what it resolves to can change after admission.
    """
    spec = as_dict(obj.get("spec"))
    address = spec.get("address")
    if reachable_inside(address, spec.get("network"), ctx.policy.config.internal_ranges):
        return Findings()
    if isinstance(address, str) and address and not is_address(address):
        shown = fieldpath.shown(address)
        message = f"WorkloadEntry address {shown} is a host name; use a private IP address"
    else:
        message = (
            f"WorkloadEntry address {fieldpath.shown(address)} is outside the private ranges; "
            "reach external hosts through the egress gateway instead"
        )
    return Findings(violations=(_violation(Code.EXTERNAL_ENDPOINT, message, "spec.address"),))


def judge_sidecar(ctx: Context, obj: JSONObject) -> Findings:
    """``sidecar-allow-any`` for an ``outboundTrafficPolicy.mode`` other than REGISTRY_ONLY.

    ALLOW_ANY (by name, any case, or 1) opens the registry, and so would Istio's
    ALLOW_ANY_DYNAMIC_DNS (3), which the Sidecar API does not list but shares the enum with
    the mesh config: any mode that is not REGISTRY_ONLY is judged open.
    """
    spec = as_dict(obj.get("spec"))
    found: list[Violation] = []
    for name in ("outboundTrafficPolicy", "outbound_traffic_policy"):
        mode = as_dict(spec.get(name)).get("mode")
        if mode is None or mode == "REGISTRY_ONLY" or _integer(mode) == 0:
            continue
        message = (
            f"Sidecar outbound mode {fieldpath.shown(mode)} lets traffic out to any host; set "
            "outboundTrafficPolicy.mode: REGISTRY_ONLY and reach external hosts through the "
            "egress gateway"
        )
        found.append(_violation(Code.SIDECAR_ALLOW_ANY, message, f"spec.{name}.mode"))
    return Findings(violations=tuple(found))
