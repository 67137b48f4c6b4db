"""Reading gateway access logs: which host:port left through a gateway, and for whom.

Three line formats are read, each exactly as its proxy writes it by default:

- Istio's text format (``EnvoyTextLogFormat``, Istio 1.9 onwards, in
  ``pilot/pkg/model/telemetry_logging.go``), used when ``meshConfig.accessLogEncoding`` is
  ``TEXT``: ``[START] "METHOD PATH PROTOCOL" ... "AUTHORITY" "UPSTREAM_HOST"
  UPSTREAM_CLUSTER_RAW UPSTREAM_LOCAL DOWNSTREAM_LOCAL DOWNSTREAM_REMOTE SNI ROUTE``;
- Istio's JSON format (``EnvoyJSONLogFormatIstio``, ``accessLogEncoding: JSON``): the same
  operators under keys such as ``authority``, ``upstream_cluster``,
  ``requested_server_name``, ``downstream_remote_address``;
- Envoy's own default format, which the per-destination Envoys that ``render`` writes use
  (their stdout access log sets no format): the Istio line up to ``"UPSTREAM_HOST"``, without
  the details, cluster, addresses and SNI.

The destination is read from Istio's upstream cluster (``outbound|443||api.stripe.com``, or
``inbound-vip|443|tcp|api.stripe.com`` at a waypoint),
else, for an HTTP request, from its ``:authority`` (port 80 when it names none, as HTTP
defines: the rendered Envoys terminate no TLS). The upstream's address is never used: with
TLS origination it is 443 for a pod that dialled 80. None of the default
formats names the client's identity, only its address: a line is attributed to a service
account only when it carries the client certificate's SPIFFE ID under
``downstream_peer_uri_san`` (add ``"downstream_peer_uri_san": "%DOWNSTREAM_PEER_URI_SAN%"``
to the gateway's JSON format). Other lines are reported as traffic without an identity and
never become grants. The proxies' own log lines are ignored; a line that looks like an
access-log line and cannot be read is skipped and reported.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from webhook.engine.entitlement import parse_requests
from webhook.learn.observations import Need, Reading, Unattributed
from webhook.loader.names import dns_label_problem, dns_subdomain_problem

_Q = r'"(?P<{}>[^"]*)"'
_HEAD = r"\[(?P<start>[^\]]+)\] " + _Q.format("request") + r" (?P<code>\S+) (?P<flags>\S+) "
_TAIL = (r"(?P<recv>\S+) (?P<sent>\S+) (?P<duration>\S+) (?P<upstream_time>\S+) "
         + " ".join(_Q.format(k) for k in ("xff", "agent", "request_id", "authority",
                                          "upstream_host")))
ISTIO_TEXT = re.compile(
    _HEAD + r"(?P<details>\S+) (?P<termination>\S+) " + _Q.format("failure") + " " + _TAIL
    + r" (?P<upstream_cluster>\S+) (?P<upstream_local>\S+) (?P<downstream_local>\S+)"
    r" (?P<downstream_remote>\S+) (?P<sni>\S+) (?P<route>\S+)"
)
ENVOY_TEXT = re.compile(_HEAD + _TAIL)
# The proxies' own logs: Envoy "[2026-12-04 16:12:35.123][1][info][main] ..." and
# pilot-agent "2026-12-04T16:12:35.123456Z\tinfo\t...".
_PROXY_LOG = re.compile(
    r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\]\[|\d{4}-\d\d-\d\dT\S+\t[a-z]+\t"
)
_SPIFFE = re.compile(r"spiffe://[^/]+/ns/(?P<ns>[^/]+)/sa/(?P<sa>[^/]+)")
JSON_KEYS = {
    "method": "method", "authority": "authority", "upstream_cluster": "upstream_cluster",
    "downstream_local": "downstream_local_address",
    "downstream_remote": "downstream_remote_address", "sni": "requested_server_name",
    "peer": "downstream_peer_uri_san",
}
# Istio names a destination's clusters direction|port|subset|host (model.BuildSubsetKey):
# outbound| at sidecars and gateways, inbound-vip| at a waypoint (an ambient egress gateway).
_DESTINATION_CLUSTERS = ("outbound|", "inbound-vip|")
_NOT_EGRESS = ("BlackHoleCluster", "InboundPassthroughCluster", "InboundPassthroughClusterIpv4",
               "InboundPassthroughClusterIpv6")


def _value(fields: Mapping[str, Any], key: str) -> str:
    """A logged value; Envoy writes "-" (text) or null (JSON) for one it does not have."""
    value = fields.get(key)
    return value if isinstance(value, str) and value not in ("", "-") else ""


def _split(address: str) -> tuple[str, str]:
    """``host:port`` or ``[v6]:port`` -> (host, port); port "" when there is none."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    host, colon, port = address.rpartition(":")
    return (host, port) if colon and host and ":" not in host else (address, "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _destination(fields: Mapping[str, Any]) -> tuple[str, str] | str:
    """(host, port) the line's traffic left for, or why the line names no destination."""
    cluster = _value(fields, "upstream_cluster")
    sni, authority = _value(fields, "sni"), _value(fields, "authority")
    named = sni or _split(authority)[0]
    if cluster.startswith(_DESTINATION_CLUSTERS):
        parts = cluster.split("|")
        if len(parts) == 4 and parts[1] and parts[3]:
            return parts[3], parts[1]
        return f"! upstream cluster {cluster[:80]!r} is not DIRECTION|PORT|SUBSET|HOST"
    if cluster.startswith("inbound|") or cluster in _NOT_EGRESS:
        return "inbound or refused traffic (not egress)"
    if cluster == "PassthroughCluster":
        port = _split(_value(fields, "downstream_local"))[1]
        return (named, port) if named and port else "passthrough traffic naming no host or port"
    if cluster:
        return f"! upstream cluster {cluster[:80]!r} is neither Istio's nor known"
    if not _value(fields, "method"):
        if sni:
            return "TLS connections routed nowhere (no upstream cluster, so no port)"
        return "lines that name no host (TCP, or TLS logged without the SNI)"
    host, port = _split(authority)
    if not host:
        return "HTTP requests without a Host"
    # Plain HTTP (the rendered Envoys terminate no TLS): a Host without a port means 80.
    return host, port or "80"


def _record(fields: Mapping[str, Any], where: str, reading: Reading) -> None:
    found = _destination(fields)
    if isinstance(found, str):
        if found.startswith("! "):
            reading.skip(where, found[2:])
        else:
            reading.ignored[found] += 1
        return
    host, port = found
    if _is_ip(host):
        reading.ignored["traffic to an IP address, which no Destination can name"] += 1
        return
    parsed = parse_requests(f"{host}:{port}")
    if len(parsed.valid) != 1:
        reading.skip(where, f"{host[:80]}:{port[:8]} is not a host:port")
        return
    request = parsed.valid[0]
    protocol = ("HTTP" if _value(fields, "method") else "TLS" if _value(fields, "sni")
                else "TCP")
    reading.protocols.setdefault((request.host, request.port), set()).add(protocol)
    peer = _value(fields, "peer")
    if not peer:
        source = _split(_value(fields, "downstream_remote"))[0] or "an unlogged address"
        reading.unattributed[Unattributed(request.host, request.port, source)] += 1
        return
    identity = _SPIFFE.fullmatch(peer)
    problem = ("is not spiffe://<trust domain>/ns/<namespace>/sa/<service account>"
               if identity is None else
               dns_label_problem(identity["ns"], what="namespace")
               or dns_subdomain_problem(identity["sa"], what="service account"))
    if identity is None or problem:
        reading.skip(where, f"downstream_peer_uri_san {peer[:80]!r} {problem}")
        return
    need = Need(identity["ns"], identity["sa"], request.host, request.port)
    reading.saw(need, where)


def read_line(text: str, where: str, reading: Reading) -> None:
    """Adds what one access-log line says to ``reading``."""
    reading.lines += 1
    line = text.strip()
    if not line:
        reading.ignored["blank lines"] += 1
    elif _PROXY_LOG.match(line):
        reading.ignored["the proxies' own log lines"] += 1
    elif line.startswith("{"):
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            reading.skip(where, "starts like JSON but is not JSON")
            return
        if not isinstance(entry, dict) or "start_time" not in entry or not (
                {"upstream_cluster", "upstream_host"} & entry.keys()):
            reading.skip(where, "JSON without Istio's access-log keys "
                                                  "(start_time, upstream_cluster or "
                                                  "upstream_host)")
            return
        _record({ours: entry.get(theirs) for ours, theirs in JSON_KEYS.items()}, where, reading)
    elif match := ISTIO_TEXT.fullmatch(line) or ENVOY_TEXT.fullmatch(line):
        fields = match.groupdict()
        fields["method"] = fields["request"].split(" ", 1)[0]
        _record(fields, where, reading)
    else:
        reading.skip(where, "neither Istio's nor Envoy's default access-log "
                                              "format, nor JSON")


def read_access_log(name: str, lines: Iterable[str]) -> Reading:
    """Reads one gateway access log (``name`` labels its lines in reports)."""
    reading = Reading()
    for number, text in enumerate(lines, start=1):
        read_line(text, f"{name}:{number}", reading)
    return reading
