"""Which hosts are external, which Destination covers one, and the message that says so.

A host is *external* unless it is cluster-local (:mod:`webhook.engine.hosts_local`: a short
name, or a name ending in ``.svc`` or ``.svc.<clusterDomain>``).
A ServiceEntry may also make its hosts internal (:func:`entry_is_internal`): STATIC with every
endpoint inside the internal ranges, or backed by a ``workloadSelector`` (pods and
WorkloadEntries, which are judged themselves). Other objects cannot see ServiceEntries, so a
VirtualService naming such a host is judged as naming an external one.

External routes come from the rules repository through ``render``; a team that needs one
asks for a grant (``services/<ns>/<sa>/<host>:<port>.rule``), never writes the route itself.
"""

from __future__ import annotations

from typing import Any

from webhook.engine import fieldpath
from webhook.engine.context import as_dict, as_list
from webhook.engine.hosts_local import is_cluster_local
from webhook.engine.protojson import field, has
from webhook.model.addresses import InternalRanges
from webhook.model.hosts import host_matches, is_wildcard, normalize_host
from webhook.model.rules import Config, Destination, Policy

UNIX_SOCKET = "unix://"
RESOLUTIONS = {0: "NONE", 1: "STATIC", 2: "DNS", 3: "DNS_ROUND_ROBIN", 4: "DYNAMIC_DNS"}
# Resolutions whose cluster sends traffic only to the entry's endpoints or selected
# workloads. NONE (the default) is an ORIGINAL_DST cluster on sidecars and DYNAMIC_DNS a
# dynamic forward proxy (pilot/pkg/networking/core/cluster.go, convertResolution and
# buildOutboundClusters): both go wherever the app or the request says.
TO_ENDPOINTS = frozenset({"STATIC", "DNS", "DNS_ROUND_ROBIN"})


def is_external(host: Any, config: Config) -> bool:
    """Anything that is not a cluster-local name is external, unreadable values included."""
    return not isinstance(host, str) or not is_cluster_local(host, config.cluster_domain)


def reachable_inside(address: Any, network: Any, internal: InternalRanges) -> bool:
    """An internal IP, a unix socket, or no address on a named network (via its gateway)."""
    if address is None or address == "":  # proto3: absent and empty are the same
        return isinstance(network, str) and network != ""
    if not isinstance(address, str):
        return False
    return address.startswith(UNIX_SOCKET) or internal.contains(address)


def resolution(spec: dict[str, Any]) -> str:
    """A ServiceEntry's resolution by name, its number read as Istio reads it; NONE when
    absent (proto3's default), "?" when unreadable."""
    value = field(spec, "resolution")
    if value is None:
        return "NONE"
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return RESOLUTIONS.get(value, "?")
    return "?"


def entry_is_internal(spec: dict[str, Any], internal: InternalRanges) -> bool:
    """Whether a ServiceEntry's hosts lead only inside: STATIC with every endpoint inside
    (loopback included, as for a local ext-authz), or backed by a workloadSelector alone with
    a resolution that sends traffic to the selected workloads (not NONE or DYNAMIC_DNS)."""
    endpoints = as_list(field(spec, "endpoints"))
    if has(spec, "workloadSelector") and not endpoints:
        selector = field(spec, "workloadSelector")
        return isinstance(selector, dict) and resolution(spec) in TO_ENDPOINTS
    if resolution(spec) != "STATIC" or not endpoints:
        return False
    return all(
        reachable_inside(as_dict(e).get("address"), as_dict(e).get("network"), internal)
        for e in endpoints
    )


def spanned_destination(policy: Policy, host: str) -> Destination | None:
    """The first Destination a wildcard spans without being covered by it (``*.com`` spans
    github.com): a route for the wildcard takes that Destination's traffic over too."""
    name = normalize_host(host)
    if not is_wildcard(name):
        return None
    for destination in policy.destinations.values():
        for listed in destination.hosts:
            listed = normalize_host(listed)
            concrete = "x" + listed[1:] if is_wildcard(listed) else listed
            if host_matches(name, concrete):
                return destination
    return None


def grant_file(namespace: str, host: str, destination: Destination, port: int | None) -> str:
    """The rules file that gives an identity of ``namespace`` its route to ``host``."""
    name = normalize_host(host)
    if is_wildcard(name):
        name = next((h for h in destination.hosts if not is_wildcard(h)), "<host>")
    if port is None or not destination.lists_port(port):
        port = destination.ports[0].number if destination.ports else None
    shown_port = "<port>" if port is None else str(port)
    return f"services/{namespace or '<namespace>'}/<serviceaccount>/{name}:{shown_port}.rule"


def route_message(
    what: str, host: str, destination: Destination, namespace: str, port: int | None = None
) -> str:
    """``egress-route`` for a covered host: the Destination, and the grant file to add."""
    return (
        f"{what} {fieldpath.shown(host)} bypasses the gateway: Destination {destination.name} "
        f"covers it; add {grant_file(namespace, host, destination, port)} and use the egress "
        "annotation"
    )


def spanning_message(what: str, host: str, destination: Destination) -> str:
    """``egress-route`` for a wildcard taking over a Destination's hosts."""
    return (
        f"{what} {fieldpath.shown(host)} takes over the hosts of Destination {destination.name}, "
        "which reach the internet only through the gateway; name your own hosts only"
    )


def outside_message(what: str, host: Any) -> str:
    """``egress-route`` for an external host no Destination covers."""
    return (
        f"{what} {fieldpath.shown(host)} is outside the cluster; reach it through the egress "
        "gateway: ask the security team for a Destination covering it"
    )
