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
from webhook.engine.meshconfig import judge_mesh_config
from webhook.engine.network import is_address
from webhook.engine.protojson import field
from webhook.model.addresses import InternalRanges
from webhook.model.decision import Code, Violation
from webhook.model.hosts import is_wildcard, normalize_host
from webhook.model.review import JSONObject
from webhook.model.rules import Destination, Policy

__all__ = [
    "judge_envoy_filter",
    "judge_mesh_config",
    "judge_service_entry",
    "judge_sidecar",
    "judge_workload_entry",
]

UNIX_SOCKET = "unix://"
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


def _covered(
    policy: Policy, host: Any, path: str, what: str, code: Code
) -> tuple[Destination | None, list[Violation]]:
    if not isinstance(host, str) or not host.strip():
        return None, [_violation(code, f"{what} {fieldpath.shown(host)} is not a host name", path)]
    destination = policy.destination_covering(normalize_host(host))
    if destination is None:
        return None, [_violation(code, _uncovered(host, what), path)]
    return destination, []


def _hosts(policy: Policy, spec: dict[str, Any]) -> Iterator[Violation]:
    ports = list(_ports(spec))
    reported: set[str] = set()
    for i, host in enumerate(as_list(spec.get("hosts"))):
        path = f"spec.hosts[{i}]"
        destination, problems = _covered(policy, host, path, "host", Code.SERVICEENTRY_HOST)
        yield from problems
        if destination is not None:
            for violation in _unlisted_ports(ports, host, destination):
                if violation.path not in reported:
                    reported.add(violation.path)
                    yield violation


def _endpoints(policy: Policy, spec: dict[str, Any], *, external: bool) -> Iterator[Violation]:
    ports = list(_ports(spec))
    for i, endpoint in enumerate(as_list(spec.get("endpoints"))):
        endpoint = as_dict(endpoint)
        path = f"spec.endpoints[{i}].address"
        address = endpoint.get("address")
        if _reachable_inside(address, endpoint.get("network"), policy.config.internal_ranges):
            continue
        if isinstance(address, str) and not is_address(address) and external:
            destination, problems = _covered(
                policy, address, path, "endpoint", Code.SERVICEENTRY_ADDRESS
            )
            yield from problems
            if destination is not None:
                endpoint_ports = as_dict(endpoint.get("ports"))
                extra = [
                    (fieldpath.key(f"spec.endpoints[{i}].ports", str(name)), _integer(n))
                    for name, n in endpoint_ports.items()
                ]
                yield from _unlisted_ports(ports + extra, address, destination)
            continue
        message = (
            f"endpoint {fieldpath.shown(address)} is outside the private ranges; "
            "reach external hosts through the egress gateway instead"
        )
        yield _violation(Code.SERVICEENTRY_ADDRESS, message, path)


def _reachable_inside(address: Any, network: Any, internal: InternalRanges) -> bool:
    """An internal IP, a unix socket, or no address on a named network (via its gateway)."""
    if address is None or address == "":  # proto3: absent and empty are the same
        return isinstance(network, str) and network != ""
    if not isinstance(address, str):
        return False
    return address.startswith(UNIX_SOCKET) or internal.contains(address)


def judge_service_entry(ctx: Context, obj: JSONObject) -> Findings:
    """``serviceentry-host``/``-port`` for MESH_EXTERNAL entries; ``-address`` for any."""
    spec = as_dict(obj.get("spec"))
    # Only the exact MESH_INTERNAL is internal: anything else Istio reads as external or
    # rejects, so it is judged as external.
    external = spec.get("location") != "MESH_INTERNAL"
    found: list[Violation] = []
    if external:
        found.extend(_hosts(ctx.policy, spec))
    for i, address in enumerate(as_list(spec.get("addresses"))):
        if not isinstance(address, str) or not ctx.policy.config.internal_ranges.contains(address):
            message = (
                f"address {fieldpath.shown(address)} is outside the private ranges; "
                "external traffic must go through the egress gateway"
            )
            found.append(_violation(Code.SERVICEENTRY_ADDRESS, message, f"spec.addresses[{i}]"))
    found.extend(_endpoints(ctx.policy, spec, external=external))
    return Findings(violations=tuple(found))


# -- WorkloadEntry, Sidecar --------------------------------------------------------------


def judge_workload_entry(ctx: Context, obj: JSONObject) -> Findings:
    """``external-endpoint`` unless the address is provably inside.

    A host name is judged outside: what it resolves to can change after admission.
    """
    spec = as_dict(obj.get("spec"))
    address = spec.get("address")
    if _reachable_inside(address, spec.get("network"), ctx.policy.config.internal_ranges):
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
    """``sidecar-allow-any`` for ``outboundTrafficPolicy.mode: ALLOW_ANY`` (any case, or 1)."""
    spec = as_dict(obj.get("spec"))
    found: list[Violation] = []
    for name in ("outboundTrafficPolicy", "outbound_traffic_policy"):
        mode = as_dict(spec.get(name)).get("mode")
        if (isinstance(mode, str) and mode.strip().upper() == "ALLOW_ANY") or (
            _integer(mode) == 1
        ):
            message = (
                "Sidecar allows any outbound traffic; set outboundTrafficPolicy.mode: "
                "REGISTRY_ONLY and reach external hosts through the egress gateway"
            )
            found.append(_violation(Code.SIDECAR_ALLOW_ANY, message, f"spec.{name}.mode"))
    return Findings(violations=tuple(found))
