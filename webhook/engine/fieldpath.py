"""Field paths (``spec.hosts[1]``, ``metadata.labels["k"]``) and how values appear in messages.

A violation's path identifies it across the old and new object of an UPDATE, so paths are
built the same way everywhere: dotted for identifier-like keys, bracketed and quoted for the
rest (label keys, filter names).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Values in messages are attacker-chosen; keep them short so messages stay readable.
MAX_SHOWN = 60


# Paths the checks build are remembered (the same few recur in every request), but only
# short ones: keys are chosen by whoever writes the object, and a remembered megabyte key
# would stay in memory long after its request.
CACHED_NAME = 253
CACHED_BASE = 512


def key(base: str, name: str) -> str:
    """``spec`` + ``hosts`` -> ``spec.hosts``; ``metadata.labels`` + ``a/b`` -> ``...["a/b"]``."""
    if isinstance(name, str) and len(name) <= CACHED_NAME and len(base) <= CACHED_BASE:
        return _remembered(base, name)
    return _joined(base, name)


def _joined(base: str, name: str) -> str:
    if _PLAIN_KEY.fullmatch(name):
        return f"{base}.{name}" if base else name
    return f"{base}[{json.dumps(name)}]"


_remembered = functools.lru_cache(maxsize=8192)(_joined)


def index(base: str, position: int) -> str:
    return f"{base}[{position}]"


_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def named(base: str, name: str) -> str:
    """A list item found by its name: ``spec.containers[name=app]``.

    Names that are not DNS labels are quoted, so two names never share a path.
    """
    if _NAME.fullmatch(name):
        return f"{base}[name={name}]"
    return f"{base}[name={json.dumps(name)}]"


def shown(value: Any) -> str:
    """A value as a message quotes it: strings as they are, scalars as JSON, cut short."""
    if isinstance(value, dict):
        text = "an object"
    elif isinstance(value, list):
        text = "a list"
    else:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"
