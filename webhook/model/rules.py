"""The rules repository as loaded: Config, Destinations, Grants and Exceptions.

A :class:`Policy` is immutable once built and carries the indexes that make one decision
cost the same with ten grants or a hundred thousand. The loader builds it; the engine reads it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import MappingProxyType

from webhook.model.addresses import DEFAULT_INTERNAL_RANGES, InternalRanges
from webhook.model.hosts import HostIndex, normalize_host

API_VERSION = "egressguard.io/v1alpha1"
DEFAULT_LABEL_PREFIX = "egressguard.io"
DEFAULT_EXEMPT_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
DEFAULT_ROOT_NAMESPACE = "istio-system"
DEFAULT_PROXY_IMAGES = ("docker.io/istio/proxyv2", "gcr.io/istio-release/proxyv2")
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
# The identities that write Endpoints and EndpointSlices from the cluster's own state.
CONTROL_PLANE_ENDPOINT_WRITERS = frozenset(
    {
        "system:apiserver",
        "system:kube-controller-manager",
        "system:serviceaccount:kube-system:endpoint-controller",
        "system:serviceaccount:kube-system:endpointslice-controller",
        "system:serviceaccount:kube-system:endpointslicemirroring-controller",
    }
)


class Mode(enum.StrEnum):
    ENFORCE = "enforce"
    WARN = "warn"
    OFF = "off"


class Access(enum.StrEnum):
    RESTRICTED = "restricted"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a rule came from, so every message can point at the file to change."""

    path: str
    line: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Gateway:
    name: str
    namespace: str
    selector: Mapping[str, str]

    def contradicted_by(self, selector: Mapping[str, object]) -> bool:
        """Whether a label selector can never pick this gateway's pods: it shares a key with
        the gateway's selector and gives it another value. Any other selector may."""
        return any(
            isinstance(value, str) and key in self.selector and self.selector[key] != value
            for key, value in selector.items()
        )


@dataclass(frozen=True, slots=True)
class Port:
    number: int
    protocol: str  # HTTP | HTTPS | TLS | TCP


@dataclass(frozen=True, slots=True)
class Destination:
    name: str
    hosts: tuple[str, ...]
    ports: tuple[Port, ...]
    gateway: str
    access: Access = Access.RESTRICTED
    description: str = ""
    tls_origination: bool = False
    block_body_patterns: tuple[str, ...] = ()
    source: Source = Source("")

    def lists_port(self, number: int) -> bool:
        return any(port.number == number for port in self.ports)


@dataclass(frozen=True, slots=True)
class Grant:
    """``services/<namespace>/<serviceaccount>/<host>:<port>.rule``."""

    namespace: str
    service_account: str
    host: str
    port: int
    destination: str
    reason: str = ""
    expires: date | None = None
    # Where its file is, without a path string per grant (a repository holds 100,000): the
    # repository's root as shown to users ("rules/", "main:"), one string every grant of a
    # load shares, and the file's name only when it is not ``<host>:<port>.rule``.
    root: str = ""
    file_name: str = ""

    def active(self, now: datetime) -> bool:
        """Valid through its expiry day, in UTC."""
        return self.expires is None or now.astimezone(UTC).date() <= self.expires

    @property
    def identity(self) -> tuple[str, str]:
        return (self.namespace, self.service_account)

    @property
    def rel(self) -> str:
        """The file's path inside the repository."""
        name = self.file_name or f"{self.host}:{self.port}.rule"
        return f"services/{self.namespace}/{self.service_account}/{name}"

    @property
    def source(self) -> Source:
        return Source(self.root + self.rel, 1)


@dataclass(frozen=True, slots=True)
class PolicyException:
    """A reviewed waiver of some codes in one namespace (optionally one service account)."""

    name: str
    namespace: str
    codes: frozenset[str]
    expires: date
    service_account: str | None = None
    reason: str = ""
    source: Source = Source("")

    def active(self, now: datetime) -> bool:
        """Valid through its expiry day, in UTC."""
        return now.astimezone(UTC).date() <= self.expires


@dataclass(frozen=True, slots=True)
class TrustedPrincipals:
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    service_accounts: frozenset[str] = frozenset()  # "namespace:name"

    def trusts(self, username: str, groups: tuple[str, ...]) -> bool:
        if username in self.users or any(group in self.groups for group in groups):
            return True
        prefix = "system:serviceaccount:"
        return username.startswith(prefix) and username[len(prefix) :] in self.service_accounts


@dataclass(frozen=True, slots=True)
class Config:
    label_prefix: str = DEFAULT_LABEL_PREFIX
    default_mode: Mode = Mode.ENFORCE
    exempt_namespaces: frozenset[str] = frozenset(DEFAULT_EXEMPT_NAMESPACES)
    gateways: tuple[Gateway, ...] = ()
    mesh_root_namespace: str = DEFAULT_ROOT_NAMESPACE
    proxy_images: frozenset[str] = frozenset(DEFAULT_PROXY_IMAGES)
    trusted: TrustedPrincipals = TrustedPrincipals()
    allowed_nameservers: frozenset[str] = frozenset()
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    internal_ranges: InternalRanges = DEFAULT_INTERNAL_RANGES
    # The mesh's own gateways, waypoints and node agents, as (namespace, service account).
    infrastructure: frozenset[tuple[str, str]] = frozenset()
    source: Source = Source("")

    @property
    def entitlement_prefix(self) -> str:
        """Every label key starting with this is an entitlement label."""
        return f"{self.label_prefix}/allow-"

    @property
    def mode_label(self) -> str:
        return f"{self.label_prefix}/mode"

    @property
    def request_annotation(self) -> str:
        return f"{self.label_prefix}/egress"

    @property
    def gateway_namespaces(self) -> frozenset[str]:
        return frozenset(gateway.namespace for gateway in self.gateways)

    def is_infrastructure(self, namespace: str, service_account: str) -> bool:
        """Whether pods of this identity are the mesh's own gateways, waypoints or node agents."""
        return (namespace, service_account) in self.infrastructure


@dataclass(frozen=True)
class Policy:
    """One consistent snapshot of a rules repository, with its lookup indexes.

    Build it with :meth:`build`; requests hold a reference to one snapshot for their whole
    evaluation, so a reload swaps the object and never mutates it.
    """

    config: Config
    destinations: Mapping[str, Destination]
    grants: tuple[Grant, ...]
    exceptions: tuple[PolicyException, ...]
    revision: str = ""
    _hosts: HostIndex[Destination] = field(default_factory=HostIndex, repr=False)
    _grants_by_identity: Mapping[tuple[str, str], tuple[Grant, ...]] = field(
        default_factory=dict, repr=False
    )
    _exceptions_by_namespace: Mapping[str, tuple[PolicyException, ...]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def build(
        cls,
        *,
        config: Config,
        destinations: tuple[Destination, ...],
        grants: tuple[Grant, ...] = (),
        exceptions: tuple[PolicyException, ...] = (),
        revision: str = "",
    ) -> Policy:
        """Indexes the rules. Raises ``ValueError`` on a host listed by two destinations."""
        hosts: HostIndex[Destination] = HostIndex()
        names = [d.name for d in destinations]
        if len(set(names)) != len(names):
            duplicate = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"two destinations are named {duplicate!r}; names must be unique")
        for destination in destinations:
            for host in destination.hosts:
                previous = hosts.add(normalize_host(host), destination)
                if previous is not None and previous.name != destination.name:
                    raise ValueError(
                        f"host {host!r} is in destinations {previous.name!r} and "
                        f"{destination.name!r}; a host belongs to one destination"
                    )
        by_identity: dict[tuple[str, str], list[Grant]] = {}
        for grant in grants:
            by_identity.setdefault(grant.identity, []).append(grant)
        by_namespace: dict[str, list[PolicyException]] = {}
        for exception in exceptions:
            by_namespace.setdefault(exception.namespace, []).append(exception)
        return cls(
            config=config,
            destinations=MappingProxyType({d.name: d for d in destinations}),
            grants=grants,
            exceptions=exceptions,
            revision=revision,
            _hosts=hosts,
            _grants_by_identity=MappingProxyType({k: tuple(v) for k, v in by_identity.items()}),
            _exceptions_by_namespace=MappingProxyType(
                {k: tuple(v) for k, v in by_namespace.items()}
            ),
        )

    def destination_for(self, host: str) -> Destination | None:
        """The most specific destination covering a concrete, normalized host name."""
        return self._hosts.lookup(host)

    def destination_covering(self, pattern: str) -> Destination | None:
        """The destination covering every name a (possibly wildcard) pattern covers."""
        return self._hosts.lookup_pattern(pattern)

    def grants_for(self, namespace: str, service_account: str) -> tuple[Grant, ...]:
        return self._grants_by_identity.get((namespace, service_account), ())

    def exceptions_for(self, namespace: str) -> tuple[PolicyException, ...]:
        return self._exceptions_by_namespace.get(namespace, ())

    def gateway(self, name: str) -> Gateway | None:
        return next((g for g in self.config.gateways if g.name == name), None)

    def entitlement_label(self, destination: Destination) -> str:
        return f"{self.config.entitlement_prefix}{destination.name}"

    def destination_of_label(self, key: str) -> Destination | None:
        """The destination an entitlement label key names, if any."""
        prefix = self.config.entitlement_prefix
        if not key.startswith(prefix):
            return None
        return self.destinations.get(key[len(prefix) :])
