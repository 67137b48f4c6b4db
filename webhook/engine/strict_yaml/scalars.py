"""Scalars, keys and comments on one line, read the strict way."""

from __future__ import annotations

import re

from webhook.engine.strict_yaml.nodes import Unreadable

INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
BLOCK_HEADER = re.compile(r"[|>](?:[1-9][+-]?|[+-][1-9]?)?")
_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
    "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
    "L": "\u2028", "P": "\u2029",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def quoted_end(text: str, start: int) -> tuple[str, int]:
    """Reads the quoted scalar at ``start``: its value and the index just past it."""
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if quote == "'" and c == "'":
            if text[i + 1 : i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        if quote == '"' and c == '"':
            return "".join(out), i + 1
        if quote == '"' and c == "\\":
            i = escape(text, i + 1, out)
            continue
        out.append(c)
        i += 1
    raise Unreadable("a quoted string does not end on its line")


def escape(text: str, i: int, out: list[str]) -> int:
    c = text[i : i + 1]
    if c in _ESCAPES and c:
        out.append(_ESCAPES[c])
        return i + 1
    width = _HEX_ESCAPES.get(c)
    digits = text[i + 1 : i + 1 + width] if width else ""
    if not width or len(digits) != width or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
        raise Unreadable("a double-quoted string has an escape this reader does not accept")
    try:
        out.append(chr(int(digits, 16)))
    except ValueError as error:
        raise Unreadable("a double-quoted string escapes an impossible character") from error
    return i + 1 + width


def strip_comment(content: str) -> str:
    """The line without its comment; quotes are honoured where a scalar may begin."""
    at_start = True
    i = 0
    while i < len(content):
        c = content[i]
        if c == "#" and (i == 0 or content[i - 1] == " "):
            return content[:i].rstrip(" ")
        if at_start and c in "'\"":
            i = quoted_end(content, i)[1]
            at_start = False
            continue
        if c == " ":
            i += 1
            continue
        nxt = content[i + 1 : i + 2]
        at_start = c in "[{," or (c in ":-?" and nxt in ("", " ") and (c != "-" or at_start))
        i += 1
    return content.rstrip(" ")


def plain_ok(text: str) -> bool:
    """A plain scalar this reader is sure how every YAML parser reads."""
    if not text:
        return False
    if text[0] in INDICATORS and not (text[0] == "-" and text[1:2] not in ("", " ")):
        return False
    return ": " not in text and not text.endswith(":") and " #" not in text


def split_key(content: str) -> tuple[str, str] | None:
    """``key: rest`` -> (key, rest); None when the line is not a mapping entry."""
    if content[:1] in ("[", "{") or BLOCK_HEADER.fullmatch(content):
        return None
    if content[:1] in ("'", '"'):
        key, end = quoted_end(content, 0)
        rest = content[end:].lstrip(" ")
        if not rest.startswith(":") or rest[1:2] not in ("", " "):
            return None
        return key, rest[1:].strip(" ")
    match = re.search(r":( |$)", content)
    if match is None:
        return None
    key = content[: match.start()].rstrip(" ")
    if not key or key[0] in INDICATORS or key == "<<" or " #" in key:
        raise Unreadable(f"the key {key[:40]!r} uses YAML this reader does not accept")
    return key, content[match.end() :].strip(" ")
