"""Who may carry which entitlement label: requests, grants, managed labels and the patch.

NetworkPolicies let a pod reach a gateway only with that gateway's labels, so the labels
are the access model: egressguard alone sets ``<prefix>/allow-<destination>`` (by JSONPatch
on pod CREATE) and refuses any the pod is not entitled to, and refuses a pod outside a
gateway's namespace that carries the gateway's own selector labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from webhook.engine import fieldpath
from webhook.engine.context import Context
from webhook.engine.podspec import PodView, brief
from webhook.model.decision import Code, Violation
from webhook.model.hosts import is_wildcard, normalize_host
from webhook.model.review import JSONObject
from webhook.model.rules import Access, Grant

# A pod reaches a handful of destinations; the bound keeps what one annotation can make a
# review cost (parsing, lookups, violations) small whatever the annotation holds.
MAX_REQUEST_ENTRIES = 100
_PORT = re.compile(r"[0-9]{1,5}")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*")


@dataclass(frozen=True, slots=True)
class EgressRequest:
    """One valid ``host:port`` of the request annotation, host normalized."""

    host: str
    port: int

    @property
    def entry(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class MalformedEntry:
    entry: str
    reason: str


@dataclass(frozen=True, slots=True)
class EgressRequests:
    valid: tuple[EgressRequest, ...] = ()
    malformed: tuple[MalformedEntry, ...] = ()
    too_many: bool = False  # entries past MAX_REQUEST_ENTRIES were not read


def parse_requests(value: str) -> EgressRequests:
    """Reads ``"github.com:443, api.stripe.com:443"``: white space ignored, duplicates once;
    at most :data:`MAX_REQUEST_ENTRIES` entries are read."""
    valid: dict[EgressRequest, None] = {}
    malformed: dict[str, MalformedEntry] = {}
    entries = value.split(",", MAX_REQUEST_ENTRIES)
    too_many = len(entries) > MAX_REQUEST_ENTRIES
    for raw in entries[:MAX_REQUEST_ENTRIES]:
        entry = "".join(raw.split())
        if not entry:
            continue
        host_part, colon, port_part = entry.rpartition(":")
        host = normalize_host(host_part)
        reason = ""
        if not colon:
            reason = "no port"
        elif not host:
            reason = "no host"
        elif "*" in host or is_wildcard(host):
            reason = "a wildcard cannot be requested, name the host"
        elif not _HOST.fullmatch(host):
            reason = "not a DNS name"
        elif not _PORT.fullmatch(port_part) or not 1 <= int(port_part) <= 65535:
            reason = "the port must be 1-65535"
        if reason:
            malformed.setdefault(entry, MalformedEntry(entry, reason))
        else:
            valid[EgressRequest(host, int(port_part))] = None
    return EgressRequests(tuple(valid), tuple(malformed.values()), too_many)


def grant_file(namespace: str, service_account: str, host: str, port: int) -> str:
    return f"services/{namespace}/{service_account}/{host}:{port}.rule"


@dataclass(slots=True)
class Entitlement:
    """What one identity may reach, and what its requests got wrong."""

    destinations: set[str] = field(default_factory=set)
    violations: list[Violation] = field(default_factory=list)
    requested: tuple[str, ...] = ()  # the valid entries of the request annotation


def entitlement_of(ctx: Context, pod: PodView, service_account: str) -> Entitlement:
    """Every destination granted to the identity, plus every open destination requested."""
    policy = ctx.policy
    namespace = ctx.namespace
    grants = policy.grants_for(namespace, service_account)
    active = {g.destination for g in grants if g.active(ctx.now)}
    result = Entitlement(destinations=active & policy.destinations.keys())
    annotation = policy.config.request_annotation
    value = pod.annotations.get(annotation)
    if value is None:
        return result
    base = pod.annotation_path(annotation)
    requests = parse_requests(value)
    result.requested = tuple(request.entry for request in requests.valid)
    if requests.too_many:
        result.violations.append(
            Violation(
                Code.UNKNOWN_DESTINATION,
                f"{annotation} lists more than {MAX_REQUEST_ENTRIES} entries; request only the "
                "destinations the pod reaches",
                base,
            )
        )
    for bad in requests.malformed:
        result.violations.append(
            Violation(
                Code.UNKNOWN_DESTINATION,
                f"{annotation}: {fieldpath.shown(bad.entry)!r} is not host:port ({bad.reason}); "
                "write e.g. api.example.com:443",
                fieldpath.key(base, fieldpath.shown(bad.entry)),
            )
        )
    for request in requests.valid:
        path = fieldpath.key(base, request.entry)
        destination = policy.destination_for(request.host)
        if destination is None:
            result.violations.append(
                Violation(
                    Code.UNKNOWN_DESTINATION,
                    f"no Destination covers {fieldpath.shown(request.entry)}; ask the security "
                    "team to add one under destinations/",
                    path,
                )
            )
        elif not destination.lists_port(request.port):
            result.violations.append(
                Violation(
                    Code.UNKNOWN_DESTINATION,
                    f"Destination {destination.name} does not list port {request.port}; ask the "
                    "security team to add it under destinations/",
                    path,
                )
            )
        elif destination.access is Access.OPEN:
            result.destinations.add(destination.name)
        elif destination.name not in result.destinations:
            mine = [g for g in grants if g.destination == destination.name]
            result.violations.append(
                _expired(mine, request, path)
                if mine
                else Violation(
                    Code.GRANT_MISSING,
                    f"{brief(namespace)}/{brief(service_account)} has no grant for "
                    f"{brief(request.entry, 60)}; add "
                    f"{grant_file(namespace, service_account, request.host, request.port)} "
                    "by pull request",
                    path,
                )
            )
    return result


def _expired(grants: list[Grant], request: EgressRequest, path: str) -> Violation:
    latest = max(grants, key=lambda g: g.expires or date.max)
    expires = latest.expires.isoformat() if latest.expires else "?"
    file = grant_file(latest.namespace, latest.service_account, latest.host, latest.port)
    return Violation(
        Code.GRANT_EXPIRED,
        f"{file} expired {expires}, so {request.entry} is not granted; renew its expires: "
        "by pull request",
        path,
    )


def judge_managed_labels(
    ctx: Context, pod: PodView, service_account: str, entitled: set[str]
) -> list[Violation]:
    """Entitlement labels the identity is not entitled to, whatever their value."""
    config = ctx.policy.config
    prefix = config.entitlement_prefix
    found = []
    for key in sorted(pod.labels):
        if not key.startswith(prefix) or key[len(prefix) :] in entitled:
            continue
        name = key[len(prefix) :]
        destination = ctx.policy.destinations.get(name)
        if destination is None:
            why = f"no Destination is named {fieldpath.shown(name)!r}"
        elif destination.access is Access.OPEN:
            why = f"request {destination.name} with annotation {config.request_annotation}"
        else:
            identity = brief(f"{ctx.namespace}/{service_account}")
            why = f"{identity} has no active grant for {name}"
        found.append(
            Violation(
                Code.MANAGED_LABEL,
                f"label {fieldpath.shown(key)} is set only by egressguard: {why}; remove it",
                pod.label_path(key),
            )
        )
    return found


def judge_gateway_labels(ctx: Context, pod: PodView) -> list[Violation]:
    """A pod wearing a gateway's selector would receive its traffic, or its NetworkPolicies.

    Only the mesh's infrastructure identities (Config ``mesh.infrastructure``) may carry a
    gateway's selector labels, in any namespace; the caller exempts their pods.
    """
    labels = pod.labels
    found = []
    for gateway in ctx.policy.config.gateways:
        selector = dict(gateway.selector)
        # An empty selector is refused by the loader; it would match every pod here.
        if not selector:
            continue
        if all(labels.get(k) == v for k, v in selector.items()):
            shown = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
            found.append(
                Violation(
                    Code.GATEWAY_IMPERSONATION,
                    f"labels {fieldpath.shown(shown)} select gateway {gateway.name}; only the "
                    f"mesh's own identities (mesh.infrastructure) may carry them; remove them",
                    pod.label_path(sorted(selector)[0]),
                    value=gateway.name,
                )
            )
    return found


def _pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def label_patch(ctx: Context, obj: JSONObject, entitled: set[str]) -> tuple[dict[str, Any], ...]:
    """JSONPatch adding each entitlement label not already exactly "true", sorted by key."""
    metadata = obj.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    have = labels if isinstance(labels, dict) else {}
    keys = sorted(
        ctx.policy.entitlement_label(ctx.policy.destinations[name])
        for name in entitled
        if name in ctx.policy.destinations
    )
    missing = [key for key in keys if have.get(key) != "true"]
    if not missing:
        return ()
    ops: list[dict[str, Any]] = []
    if not isinstance(metadata, dict):
        ops.append({"op": "add", "path": "/metadata", "value": {}})
    if not isinstance(labels, dict):
        ops.append({"op": "add", "path": "/metadata/labels", "value": {}})
    ops.extend(
        {"op": "add", "path": f"/metadata/labels/{_pointer(key)}", "value": "true"}
        for key in missing
    )
    return tuple(ops)
