"""From request bytes to a JSON value, refusing what a real API server never sends.

``orjson`` parses strictly (RFC 8259, valid UTF-8, no lone surrogates, at most 1024 levels,
in Rust without touching Python's stack). Two more checks run on the raw bytes, in C-speed
byte operations, never recursing and never walking the parsed tree in Python:

* **Depth.** With the strings cut out, what remains is the document's structure: its
  brackets, made all alike, lose one level of nesting per ``replace(b"[]", b"")``, so a
  skeleton still holding brackets after ``max_depth`` passes nests deeper.
* **Duplicate keys.** Outside strings, every ``:`` of valid JSON separates one key from its
  value. ``orjson`` keeps the last of duplicate keys, so re-encoding the parsed value and
  counting colons outside strings again gives fewer exactly when the body had a key twice
  in one object (``"a"`` and ``"\\u0061"`` included). The API server encodes reviews from
  Go structs and maps and never repeats a key; a body that does was not written by it, and
  a parser differential gets no benefit of the doubt (RELIABILITY 24).

Cutting the strings out: escaped backslashes and escaped quotes are blanked first (they
occur only inside strings, and blanking keeps every other byte in place), after which each
remaining ``"`` opens or closes a string, so splitting on ``"`` alternates outside/inside.
"""

from __future__ import annotations

from typing import Any

import orjson

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_ALIKE = bytes.maketrans(b"{}", b"[]")


class UndecodableBody(ValueError):
    """The bytes are not a JSON document egressguard accepts; the server answers 400."""


def outside_strings(document: bytes) -> bytes:
    """The bytes of a valid JSON document that are not inside a string."""
    blanked = document.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    return b"".join(blanked.split(b'"')[0::2])


def nests_deeper_than(skeleton: bytes, limit: int) -> bool:
    """Whether the arrays and objects of a string-free skeleton nest deeper than ``limit``."""
    brackets = skeleton.translate(_ALIKE, _NOT_BRACKETS)
    for _ in range(limit):
        if len(brackets) <= 2 * (limit - _):
            return False  # too few brackets left to nest that deep
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def decode_json(body: bytes, *, max_depth: int) -> Any:
    """Parses ``body``; raises :class:`UndecodableBody` with a message fit for the client."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        reason = str(error)
        if "UTF-8" in reason or "surrogate" in reason:
            raise UndecodableBody("the body is not valid UTF-8") from None
        if "depth" in reason or "recursion" in reason.lower():
            raise UndecodableBody(f"the body nests deeper than {max_depth} levels") from None
        raise UndecodableBody("the body is not valid JSON") from None
    skeleton = outside_strings(body)
    if nests_deeper_than(skeleton, max_depth):
        raise UndecodableBody(f"the body nests deeper than {max_depth} levels")
    if skeleton.count(b":") != outside_strings(orjson.dumps(value)).count(b":"):
        raise UndecodableBody("the body repeats a key in one JSON object")
    return value
