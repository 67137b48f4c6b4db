"""How review results read: the few phrases the diff, the risk flags and explain share.

Kept in one place so a destination, an exception or a gateway is described the same way
in a PR comment, a risk flag and ``explain``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from webhook.model.rules import Destination, Gateway, PolicyException, Port


def plural(count: int, word: str, plural_form: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural_form or word + 's')}"


def names(items: Iterable[str]) -> str:
    return ", ".join(items)


def ports(listed: Iterable[Port]) -> str:
    """``443/HTTPS, 22/TCP``."""
    return names(f"{p.number}/{p.protocol}" for p in listed)


def endpoints(destination: Destination) -> str:
    """``api.stripe.com on 443/HTTPS``."""
    return f"{names(destination.hosts)} on {ports(destination.ports)}"


def scope(exception: PolicyException) -> str:
    """Whom an exception applies to."""
    if exception.service_account:
        return f"pods of {exception.namespace}/{exception.service_account}"
    return f"every object in namespace {exception.namespace}"


def waiver(exception: PolicyException, *, past: bool = False) -> str:
    """``waives net-capability for pods of legacy/vpn-client until 2027-03-31``."""
    verb = "waived" if past else "waives"
    codes = names(sorted(exception.codes))
    return f"{verb} {codes} for {scope(exception)} until {exception.expires}"


def selector(labels: Mapping[str, str]) -> str:
    return "{" + names(f"{k}={v}" for k, v in sorted(labels.items())) + "}"


def gateway(gw: Gateway) -> str:
    return f"namespace {gw.namespace}, selector {selector(gw.selector)}"


def principals(items: Iterable[object], *, limit: int = 5) -> str:
    """``a/b, c/d`` with at most ``limit`` names, then how many more."""
    shown = [str(item) for item in items]
    if len(shown) <= limit:
        return names(shown)
    return f"{names(shown[:limit])} and {len(shown) - limit} more"


def gateway_change(
    before: Gateway | None, after: Gateway | None, *, default_before: bool, default_after: bool
) -> str:
    """What changed about one gateway, in a sentence."""
    if before is None and after is not None:
        return f"added ({gateway(after)})" + (", the default" if default_after else "")
    if after is None and before is not None:
        return f"removed ({gateway(before)})"
    assert before is not None and after is not None
    parts = []
    if before.namespace != after.namespace:
        parts.append(f"namespace {before.namespace} -> {after.namespace}")
    if dict(before.selector) != dict(after.selector):
        parts.append(f"selector {selector(before.selector)} -> {selector(after.selector)}")
    if default_after and not default_before:
        parts.append("now the default gateway")
    elif default_before and not default_after:
        parts.append("no longer the default gateway")
    return "; ".join(parts)
