"""Address sets written as blocks with exceptions, judged against the internal ranges.

Every policy engine lets a rule name a block and carve parts out of it: a Kubernetes ipBlock
with ``except``, a Cilium ``toCIDRSet`` entry with ``except``, a Calico destination's ``nets``
and ``notNets``. Such a rule stays inside when what is left (the blocks minus the exceptions)
lies wholly inside the internal ranges, which is computed here exactly: the fence itself is
written that way (``100.64.0.0/10`` except the Alibaba Cloud metadata addresses).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any

from webhook.model.addresses import InternalRanges, IPNetwork, parse_network

# Every address of each family: what a rule naming no block at all reaches.
EVERYWHERE = ("0.0.0.0/0", "::/0")


def _excepted(block: IPNetwork, exceptions: Iterable[Any]) -> list[tuple[int, int]]:
    """The exceptions that overlap ``block``, clipped to it, as sorted integer ranges.

    An exception that cannot be read takes nothing away: an unreadable value never makes a
    rule narrower.
    """
    ranges: list[tuple[int, int]] = []
    low, high = int(block.network_address), int(block.broadcast_address)
    for value in exceptions:
        network = parse_network(value) if isinstance(value, str) else None
        if network is None or network.version != block.version or not network.overlaps(block):
            continue
        start = max(low, int(network.network_address))
        end = min(high, int(network.broadcast_address))
        ranges.append((start, end))
    return sorted(ranges)


def _gaps(block: IPNetwork, exceptions: Iterable[Any]) -> Iterator[IPNetwork]:
    """``block`` minus ``exceptions``, as the fewest CIDRs, in address order."""
    address = ipaddress.IPv4Address if block.version == 4 else ipaddress.IPv6Address
    cursor, high = int(block.network_address), int(block.broadcast_address)
    for start, end in [*_excepted(block, exceptions), (high + 1, high + 1)]:
        if start > cursor:
            first, last = address(cursor), address(min(start - 1, high))
            yield from ipaddress.summarize_address_range(first, last)
        cursor = max(cursor, end + 1)
        if cursor > high:
            return


def first_outside(
    internal: InternalRanges, blocks: Iterable[Any], exceptions: Iterable[Any] = ()
) -> str | None:
    """The first part of ``blocks`` minus ``exceptions`` that is not internal; None if none.

    A block that cannot be read is returned as it was written (it is never provably inside).
    The part returned is a CIDR a message can name (``0.0.0.0/5``), the widest one that
    reaches outside.
    """
    kept = list(exceptions)
    for value in blocks:
        block = parse_network(value) if isinstance(value, str) else None
        if block is None:
            return str(value)
        for part in _gaps(block, kept):
            if not internal.contains(str(part)):
                return str(part)
    return None
