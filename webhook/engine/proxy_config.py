"""The top-level keys of a ``proxy.istio.io/config`` annotation, read without a YAML library.

Istio reads the annotation as YAML (JSON being YAML). The engine may not import a YAML
parser, and a second parser is a differential waiting to happen, so this reader accepts
only shapes it can read with certainty: a JSON object, or block YAML whose top level is
plain ``key: value`` lines. Anything else is :class:`UnreadableProxyConfig`, which the
caller refuses: a reviewer can always rewrite the annotation as JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

# SPEC §4: the only ProxyConfig fields a workload may set for itself.
ALLOWED_KEYS = frozenset(
    {
        "holdApplicationUntilProxyStarts",
        "terminationDrainDuration",
        "drainDuration",
        "concurrency",
        "proxyStatsMatcher",
        "tracing",
    }
)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# YAML 1.1 (Istio's parser) also breaks lines at NEL, LS and PS; any such character, a tab,
# a BOM or another control character could hide a key from a line-based reader.
_SUSPICIOUS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029\ufeff\t]")
_TOP_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_]*):(?:[ ]+(.*))?")
# The inline value after `key:` that may be followed by an indented block.
_OPENS_BLOCK = re.compile(r"(?:[|>][0-9+-]*[ ]*)?(?:#.*)?")


class UnreadableProxyConfig(ValueError):
    """The text is not a shape this reader can read with certainty."""


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs, duplicates kept."""


def top_level_keys(text: str) -> list[str]:
    """The top-level keys in order, duplicates kept; raises :class:`UnreadableProxyConfig`."""
    if text.strip().startswith("{"):
        return _json_keys(text)
    return _yaml_keys(text)


def _json_keys(text: str) -> list[str]:
    try:
        parsed = json.loads(text, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError) as error:
        raise UnreadableProxyConfig("not valid JSON") from error
    if not isinstance(parsed, _Pairs):
        raise UnreadableProxyConfig("not a JSON object")
    return [key for key, _ in parsed]


def _yaml_keys(text: str) -> list[str]:
    if _SUSPICIOUS.search(text):
        raise UnreadableProxyConfig("tabs or unusual control characters")
    keys: list[str] = []
    may_nest = False
    for line in _LINE_BREAK.split(text):
        if not line.strip() or line.lstrip(" ").startswith("#"):
            continue
        if line.startswith(" "):
            # A nested block belongs to the key above it, and only after `key:` alone (or a
            # block scalar indicator); after an inline value it would be a YAML error.
            if not may_nest:
                raise UnreadableProxyConfig("an indented line that belongs to no key")
            continue
        match = _TOP_KEY.fullmatch(line)
        if match is None:
            raise UnreadableProxyConfig(f"not a plain `key: value` line: {line[:40]!r}")
        keys.append(match.group(1))
        may_nest = _OPENS_BLOCK.fullmatch(match.group(2) or "") is not None
    return keys
