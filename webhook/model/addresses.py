"""Which addresses are internal (inside the cluster's reach) and which are outside.

One set, used by every check that judges an address (NetworkPolicies of every engine,
ServiceEntry addresses and endpoints, WorkloadEntries, Endpoints, Service externalIPs) and by
the fence the controller renders: the private ranges, loopback, and the ranges a Config adds
under ``network.internalRanges`` (VPC, pod and service ranges, IPv6 included), minus the cloud
metadata and resolver addresses. Those sit inside "private" space on some clouds (AWS's IMDS
over IPv6, Alibaba Cloud's metadata server in 100.64.0.0/10) and hand out credentials or resolve
any name, so no configuration makes them internal.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


PRIVATE_RANGES = _networks(
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"
)
LOOPBACK_RANGES = _networks("127.0.0.0/8", "::1/128")
# Cloud metadata and resolver addresses: link-local (every cloud's 169.254.169.254, AWS's
# resolver 169.254.169.253), AWS IMDS and resolver over IPv6, Alibaba Cloud's metadata server
# and resolvers.
METADATA_RANGES = _networks(
    "169.254.0.0/16", "fd00:ec2::/64", "100.100.100.200/32", "100.100.2.136/30"
)
# Broader than this, a configured internal range would make most of the internet "internal".
BROADEST_INTERNAL_PREFIX = {4: 8, 6: 32}


def parse_network(value: str) -> IPNetwork | None:
    """An address or CIDR as a network (an address is its own /32 or /128); None if unreadable."""
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=8192)
def _inside(value: str, extra: tuple[IPNetwork, ...]) -> bool:
    network = parse_network(value)
    if network is None:
        return False
    if any(network.version == m.version and network.overlaps(m) for m in METADATA_RANGES):
        return False
    return any(
        network.version == inner.version and network.subnet_of(inner)  # type: ignore[arg-type]
        for inner in (*PRIVATE_RANGES, *LOOPBACK_RANGES, *extra)
    )


@dataclass(frozen=True, slots=True)
class InternalRanges:
    """The internal ranges of one Config: the built-in ones plus ``network.internalRanges``."""

    extra: tuple[IPNetwork, ...] = ()

    def contains(self, value: str) -> bool:
        """Whether an address or CIDR lies wholly inside the internal ranges.

        Anything unparsable is outside: a value we cannot read is never trusted. A range that
        touches a metadata or resolver address is outside, however it is written.
        """
        return _inside(value, self.extra)

    @property
    def cidrs(self) -> tuple[IPNetwork, ...]:
        """Every internal range (before the metadata addresses are taken out)."""
        return (*PRIVATE_RANGES, *LOOPBACK_RANGES, *self.extra)


DEFAULT_INTERNAL_RANGES = InternalRanges()


def is_private(value: str) -> bool:
    """Whether an address or CIDR is internal under the built-in ranges alone."""
    return DEFAULT_INTERNAL_RANGES.contains(value)
