"""Which addresses are private (inside the cluster's reach) and which are outside."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

PRIVATE_RANGES = tuple(
    ipaddress.ip_network(cidr)
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


@lru_cache(maxsize=4096)
def is_private(value: str) -> bool:
    """Whether an address or CIDR lies wholly inside the private ranges.

    Anything unparsable is treated as outside: a value we cannot read is never trusted.
    Link-local and cloud metadata addresses are outside.
    """
    try:
        network = ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        return False
    return any(
        network.version == private.version and network.subnet_of(private)  # type: ignore[arg-type]
        for private in PRIVATE_RANGES
    )
