"""The values a strict YAML document is read into, and the one error reading can raise."""

from __future__ import annotations

from dataclasses import dataclass

MAX_DEPTH = 64
NULLS = frozenset({"", "~", "null", "Null", "NULL"})


class Unreadable(ValueError):
    """The text uses YAML this reader does not accept, or is not YAML at all."""


@dataclass(frozen=True, slots=True)
class Scalar:
    text: str
    quoted: bool = False

    @property
    def is_null(self) -> bool:
        return not self.quoted and self.text in NULLS


@dataclass(frozen=True, slots=True)
class MapNode:
    pairs: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class SeqNode:
    items: tuple[Node, ...]


Node = Scalar | MapNode | SeqNode
NULL = Scalar("")
