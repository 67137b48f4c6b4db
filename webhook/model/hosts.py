"""Host names as egressguard compares them, and the index that finds a host's destination.

Matching is case-insensitive with a trailing dot ignored. ``*.example.com`` covers every
name ending in ``.example.com`` but not ``example.com`` itself, as in Istio. When several
entries cover a name the most specific wins: an exact name over a wildcard, a longer
wildcard over a shorter one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

WILDCARD_PREFIX = "*."


def normalize_host(host: str) -> str:
    """The canonical form of a host name: stripped, lower case, no trailing dot."""
    host = host.strip().lower()
    if host.endswith("."):
        host = host[:-1]
    return host


def is_wildcard(host: str) -> bool:
    return host == "*" or host.startswith(WILDCARD_PREFIX)


def wildcard_suffix(host: str) -> str:
    """For ``*.example.com`` the suffix ``.example.com``; for ``*`` the empty suffix."""
    return "" if host == "*" else host[1:]


def host_matches(pattern: str, host: str) -> bool:
    """Whether ``pattern`` (a name or a wildcard) covers ``host``; both normalized."""
    if not is_wildcard(pattern):
        return pattern == host
    suffix = wildcard_suffix(pattern)
    return host.endswith(suffix) and len(host) > len(suffix)


def _suffixes(host: str) -> Iterator[str]:
    """``a.b.c`` -> ``.b.c``, ``.c``, then ``""`` (for ``*``): longest first."""
    start = host.find(".")
    while start != -1:
        yield host[start:]
        start = host.find(".", start + 1)
    yield ""


@dataclass(slots=True)
class HostIndex(Generic[T]):
    """Maps host patterns to values; a lookup costs O(labels in the name), not O(entries)."""

    exact: dict[str, T] = field(default_factory=dict)
    wildcards: dict[str, T] = field(default_factory=dict)

    def add(self, pattern: str, value: T) -> T | None:
        """Adds ``pattern``; returns the value it already had, if any (a duplicate)."""
        table = self.wildcards if is_wildcard(pattern) else self.exact
        key = wildcard_suffix(pattern) if is_wildcard(pattern) else pattern
        previous = table.get(key)
        if previous is None:
            table[key] = value
        return previous

    def lookup(self, host: str) -> T | None:
        """The value of the most specific pattern covering the concrete name ``host``."""
        found = self.exact.get(host)
        if found is not None:
            return found
        if not self.wildcards:
            return None
        for suffix in _suffixes(host):
            if suffix == host:
                continue
            found = self.wildcards.get(suffix)
            if found is not None:
                return found
        return None

    def lookup_pattern(self, pattern: str) -> T | None:
        """The most specific entry covering every name that ``pattern`` covers.

        A concrete name is looked up as usual. A wildcard ``*.s`` is covered only by a
        wildcard ``*.t`` where ``s`` equals or ends with ``.t``: an exact entry never
        covers a wildcard, so ``*.com`` is broader than ``github.com``.
        """
        if not is_wildcard(pattern):
            return self.lookup(pattern)
        suffix = wildcard_suffix(pattern)
        found = self.wildcards.get(suffix)
        if found is not None or suffix == "":
            return found
        for candidate in _suffixes(suffix[1:]):
            found = self.wildcards.get(candidate)
            if found is not None:
                return found
        return None

    def values(self) -> Iterable[T]:
        yield from self.exact.values()
        yield from self.wildcards.values()
