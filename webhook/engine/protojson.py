"""Istio objects are protobuf JSON: a field may be spelled ``lowerCamel`` or ``snake_case``.

Istio's CRDs have long preserved unknown fields, and its protobuf decoder accepts both
spellings, so ``config_patches`` configures exactly what ``configPatches`` does. Checks read
a field under either name; an object that spells one field both ways cannot be read
confidently (which one Istio keeps depends on its decoder), and the check says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_UPPER = re.compile(r"[A-Z]")


def snake(camel: str) -> str:
    return _UPPER.sub(lambda m: "_" + m.group(0).lower(), camel)


def field(obj: dict[str, Any], camel: str) -> Any:
    """The field under its JSON name, else under its proto name; None when absent."""
    if camel in obj:
        return obj[camel]
    return obj.get(snake(camel))


def has(obj: dict[str, Any], camel: str) -> bool:
    return camel in obj or snake(camel) in obj


def doubly_spelled(value: Any, path: str, *, skip: frozenset[str]) -> Iterator[str]:
    """Paths of fields spelled both ways, anywhere below ``value`` except under ``skip`` keys.

    Iterative, so no nesting depth can make it raise.
    """
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            keys = {k for k in node if isinstance(k, str)}
            for name in sorted(keys):
                if snake(name) != name and snake(name) in keys:
                    yield f"{where}.{name}"
                if name not in skip:
                    stack.append((node[name], f"{where}.{name}"))
        elif isinstance(node, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node))
