"""From request bytes to a JSON value, refusing what a real API server never sends.

``orjson`` parses strictly: RFC 8259 only (no NaN, no comments, no trailing commas), valid
UTF-8 with no lone surrogates, and at most :data:`MAX_DEPTH` levels of nesting, counted in
Rust without touching Python's stack. That is the whole check: the body is the API
server's encoding of a review, and nothing in it is read twice by different parsers.

A repeated key keeps its last value, as Go's ``encoding/json`` does, so egressguard judges
what the API server itself would read; the API server encodes reviews from Go structs and
maps and never repeats a key. Text that users write and that other parsers read again
(JSON and YAML in annotations, ConfigMap values, EnvoyFilter patches) is where duplicate
keys, depth and parser differentials matter, and the engine checks them there.
"""

from __future__ import annotations

from typing import Any

import orjson

# orjson's own bound on nesting; deeper documents fail to parse.
MAX_DEPTH = 1024


class UndecodableBody(ValueError):
    """The bytes are not a JSON document egressguard accepts; the server answers 400."""


def decode_json(body: bytes) -> Any:
    """Parses ``body``; raises :class:`UndecodableBody` with a message fit for the client."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        reason = str(error)
        if "UTF-8" in reason or "surrogate" in reason:
            raise UndecodableBody("the body is not valid UTF-8") from None
        if "depth" in reason or "recursion" in reason.lower():
            raise UndecodableBody(f"the body nests deeper than {MAX_DEPTH} levels") from None
        raise UndecodableBody("the body is not valid JSON") from None
