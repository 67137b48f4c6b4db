"""The names a rules repository may use, each checked with a message that says how to fix it.

Kubernetes refuses a label key, a namespace or a service account name that breaks its
rules, so a rules file naming one would grant something that can never match; host names
are checked because a typo here silently opens nothing (or, for wildcards, too much).
Each checker returns ``None`` for a good name, else the reason it is not.
"""

from __future__ import annotations

import ipaddress
import re

from webhook.model.hosts import WILDCARD_PREFIX

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_LABEL_RULE = "lower case letters, digits and '-', starting and ending with a letter or digit"

# Destination names become label names `allow-<name>`, which Kubernetes caps at 63.
DESTINATION_NAME_MAX = 57


def dns_label_problem(name: str, *, what: str, max_length: int = 63) -> str | None:
    """Why ``name`` is not a DNS-1123 label (namespaces, destination names)."""
    if not name:
        return f"the {what} is empty"
    if len(name) > max_length:
        return f"the {what} {name!r} is {len(name)} characters long; at most {max_length}"
    if not _LABEL.fullmatch(name):
        return f"the {what} {name!r} is not a DNS-1123 label: {DNS_LABEL_RULE}"
    return None


def dns_subdomain_problem(name: str, *, what: str) -> str | None:
    """Why ``name`` is not a DNS-1123 subdomain (service account names may contain dots)."""
    if not name:
        return f"the {what} is empty"
    if len(name) > 253:
        return f"the {what} {name!r} is {len(name)} characters long; at most 253"
    if not all(_LABEL.fullmatch(part) for part in name.split(".")):
        return (
            f"the {what} {name!r} is not a DNS-1123 subdomain: dot-separated parts of "
            f"{DNS_LABEL_RULE}"
        )
    return None


def _host_name_problem(name: str) -> str | None:
    """Why a normalized, concrete ``name`` is not a DNS host name."""
    if len(name) > 253:
        return f"{name!r} is longer than 253 characters"
    labels = name.split(".")
    for label in labels:
        if not label:
            return f"{name!r} has an empty label (two dots in a row, or a leading dot)"
        if len(label) > 63:
            return f"{name!r} has a label longer than 63 characters"
        if not _LABEL.fullmatch(label):
            return (
                f"{name!r} is not a DNS name: each dot-separated label has letters, digits "
                f"and '-' only, and does not start or end with '-'"
            )
    if labels[-1].isdigit():
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return f"{name!r} ends in a numeric label; a DNS name's last label has a letter"
        return f"{name!r} is an IP address; destinations name DNS hosts"
    return None


def host_pattern_problem(host: str) -> str | None:
    """Why ``host`` (already normalized) is not a DNS name or a ``*.`` wildcard."""
    if not host:
        return "the host is empty"
    if host == "*":
        return (
            "'*' would cover the whole internet; list the host names, or a wildcard such "
            "as '*.example.com'"
        )
    if host.startswith(WILDCARD_PREFIX):
        rest = host[len(WILDCARD_PREFIX) :]
        if "*" in rest:
            return f"{host!r} has more than one '*'; only a leading '*.' is allowed"
        problem = _host_name_problem(rest)
        return None if problem is None else f"in wildcard {host!r}: {problem}"
    if "*" in host:
        return (
            f"{host!r} has a '*' that is not a leading '*.'; a wildcard is written '*.example.com'"
        )
    if ":" in host:
        return f"{host!r} contains ':'; write the port in spec.ports, not in the host"
    return _host_name_problem(host)
