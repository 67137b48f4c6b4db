"""Violations and Decisions: what the engine concludes, as values."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from webhook.model.rules import Mode


class Code(enum.StrEnum):
    """The stable violation codes users script against (SPEC §4)."""

    GRANT_MISSING = "grant-missing"
    UNKNOWN_DESTINATION = "unknown-destination"
    GRANT_EXPIRED = "grant-expired"
    MANAGED_LABEL = "managed-label"
    GATEWAY_IMPERSONATION = "gateway-impersonation"
    HOST_NETWORK = "host-network"
    NET_CAPABILITY = "net-capability"
    PRIVILEGED = "privileged"
    MESH_OPT_OUT = "mesh-opt-out"
    INTERCEPTION_EXCLUDED = "interception-excluded"
    PROXY_OVERRIDE = "proxy-override"
    PROXY_UID = "proxy-uid"
    DNS_OVERRIDE = "dns-override"
    HOST_ALIAS = "host-alias"
    SERVICEENTRY_HOST = "serviceentry-host"
    SERVICEENTRY_PORT = "serviceentry-port"
    SERVICEENTRY_ADDRESS = "serviceentry-address"
    EXTERNAL_ENDPOINT = "external-endpoint"
    ENVOYFILTER_GATEWAY = "envoyfilter-gateway"
    ENVOYFILTER_OUTBOUND = "envoyfilter-outbound"
    ENVOYFILTER_PROTECTED_FILTER = "envoyfilter-protected-filter"
    SIDECAR_ALLOW_ANY = "sidecar-allow-any"
    NETPOL_OPEN_EGRESS = "netpol-open-egress"
    EXTERNALNAME_SERVICE = "externalname-service"
    NAMESPACE_MODE = "namespace-mode"
    NODE_ESCAPE = "node-escape"
    PROXY_EXEC = "proxy-exec"
    EXTERNAL_IP = "external-ip"
    EGRESS_ROUTE = "egress-route"
    GATEWAY_CONFIG = "gateway-config"
    MESH_CONFIG = "mesh-config"
    MANAGED_OBJECT = "managed-object"


# Enforced whatever the namespace's mode: the access model rests on them.
ALWAYS_ENFORCED = frozenset({Code.MANAGED_LABEL, Code.NAMESPACE_MODE})

# Codes an Exception may never waive, for the same reason.
UNWAIVABLE_CODES = frozenset({Code.MANAGED_LABEL, Code.NAMESPACE_MODE})

# Codes about egress infrastructure; they do not apply to trusted principals.
# (mesh-opt-out on a Namespace is infrastructure too; the namespace check marks it.)
INFRASTRUCTURE_CODES = frozenset(
    {
        Code.SERVICEENTRY_HOST,
        Code.SERVICEENTRY_PORT,
        Code.SERVICEENTRY_ADDRESS,
        Code.EXTERNAL_ENDPOINT,
        Code.ENVOYFILTER_GATEWAY,
        Code.ENVOYFILTER_OUTBOUND,
        Code.ENVOYFILTER_PROTECTED_FILTER,
        Code.SIDECAR_ALLOW_ANY,
        Code.NETPOL_OPEN_EGRESS,
        Code.EXTERNALNAME_SERVICE,
        Code.NAMESPACE_MODE,
        Code.PROXY_EXEC,
        Code.EGRESS_ROUTE,
        Code.GATEWAY_CONFIG,
        Code.MESH_CONFIG,
        Code.MANAGED_OBJECT,
    }
)


@dataclass(frozen=True, slots=True)
class Violation:
    """One thing wrong with an object.

    ``path`` is where in the object (``spec.containers[0].securityContext``, or
    ``metadata.labels["egressguard.io/allow-x"]``): together with ``code`` it identifies the
    violation, so an UPDATE can tell what it introduces from what was already there.
    ``message`` says what is wrong and what to change. ``value`` is the offending value as
    found (an excluded range, an image, a flag): an UPDATE carries a violation over from the
    old object only when code, path *and* value are the same, so widening ``/32`` to
    ``0.0.0.0/0`` at the same path is new.
    """

    code: Code
    message: str
    path: str = ""
    infrastructure: bool = False
    value: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.code.value, self.path, self.value)


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one admission request, mutation and validation together."""

    allowed: bool
    mode: Mode
    codes: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    patch: tuple[dict[str, Any], ...] = ()
    violations: tuple[Violation, ...] = field(default=(), repr=False)
    # Who a judged pod or pod template runs as, and the valid ``host:port`` entries of its
    # request annotation, as the engine read them (None: not judged as a pod), for the
    # audit line; not part of the verdict.
    service_account: str | None = field(default=None, repr=False, compare=False)
    requested: tuple[str, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def summary(self) -> str:
        """The one message a person reads in kubectl when the request is refused."""
        if self.allowed:
            return ""
        return "egressguard refused this object: " + "; ".join(self.messages)
