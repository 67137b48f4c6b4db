"""A strict reader for the plain YAML that Istio's mesh config is written in.

The engine may not import a YAML library (it stays pure and small), yet the ``istio``
ConfigMap carries its mesh config as YAML text. This reader accepts block and flow mappings
and sequences, plain and quoted scalars, comments and block scalars, and refuses everything
else — anchors, aliases, tags, merge keys, complex keys, multi-line plain or quoted scalars,
several documents, tabs and the exotic line breaks YAML 1.1 honours — by raising
:class:`Unreadable`. A caller that cannot read a document confidently judges it the strict
way, so an unusual spelling never smuggles a setting past a check.

Mappings keep every pair in order, duplicates included: deciding what a duplicate means is
the caller's business, and a security check should refuse it rather than guess.
"""

from __future__ import annotations

import re

from webhook.engine.strict_yaml.block import Reader
from webhook.engine.strict_yaml.nodes import (
    MAX_DEPTH,
    NULL,
    MapNode,
    Node,
    Scalar,
    SeqNode,
    Unreadable,
)

__all__ = ["MAX_DEPTH", "NULL", "MapNode", "Node", "Scalar", "SeqNode", "Unreadable", "read"]

# Line breaks and controls other YAML parsers may honour differently from this reader.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029\ufeff\t]")


def read(text: str) -> Node:
    """The one document in ``text``; an empty document is null. Raises :class:`Unreadable`."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if _FORBIDDEN.search(text):
        raise Unreadable("it contains tabs, control characters or unusual line breaks")
    if "\r" in text.replace("\r\n", ""):
        raise Unreadable("it uses bare carriage returns as line breaks")
    return Reader(text.replace("\r\n", "\n").split("\n")).document()
