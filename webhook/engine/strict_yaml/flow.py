"""Flow collections (``{a: b, c: [d, e]}``, JSON included) on one logical line."""

from __future__ import annotations

from webhook.engine.strict_yaml.nodes import (
    MAX_DEPTH,
    NULL,
    MapNode,
    Node,
    Scalar,
    SeqNode,
    Unreadable,
)
from webhook.engine.strict_yaml.scalars import plain_ok, quoted_end


def flow_depth(text: str) -> int:
    """How many brackets ``text`` leaves open (quotes honoured)."""
    depth = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c in "'\"" and (i == 0 or text[i - 1] in " [{,:"):
            i = quoted_end(text, i)[1]
            continue
        depth += 1 if c in "[{" else -1 if c in "]}" else 0
        i += 1
    return depth


class Flow:
    """Flow collections (``{a: b, c: [d, e]}``), JSON included."""

    def __init__(self, text: str, depth: int) -> None:
        self.text = text
        self.depth = depth

    def skip(self, i: int) -> int:
        while i < len(self.text) and self.text[i] == " ":
            i += 1
        return i

    def value(self, i: int) -> tuple[Node, int]:
        i = self.skip(i)
        c = self.text[i : i + 1]
        if c in ("{", "["):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise Unreadable("it is nested too deeply")
            node, i = self.mapping(i + 1) if c == "{" else self.sequence(i + 1)
            self.depth -= 1
            return node, i
        if c and c in "'\"":
            text, i = quoted_end(self.text, i)
            return Scalar(text, quoted=True), i
        return self.plain(i)

    def plain(self, i: int) -> tuple[Scalar, int]:
        start = i
        while i < len(self.text):
            c = self.text[i]
            nxt = self.text[i + 1 : i + 2]
            if c in ",[]{}" or (c == ":" and nxt in ("", " ", ",", "]", "}", "[", "{")):
                break
            i += 1
        text = self.text[start:i].strip(" ")
        if not plain_ok(text):
            raise Unreadable("a flow collection has a value this reader does not accept")
        return Scalar(text), i

    def mapping(self, i: int) -> tuple[MapNode, int]:
        pairs: list[tuple[str, Node]] = []
        while True:
            i = self.skip(i)
            if self.text[i : i + 1] == "}":
                return MapNode(tuple(pairs)), i + 1
            key_node, i = self.value(i)
            i = self.skip(i)
            if not isinstance(key_node, Scalar) or self.text[i : i + 1] != ":":
                raise Unreadable("a flow mapping has an entry that is not key: value")
            i = self.skip(i + 1)
            if self.text[i : i + 1] in (",", "}"):
                value: Node = NULL
            else:
                value, i = self.value(i)
            pairs.append((key_node.text, value))
            i = self.skip(i)
            if self.text[i : i + 1] == ",":
                i += 1
            elif self.text[i : i + 1] != "}":
                raise Unreadable("a flow mapping is not closed")

    def sequence(self, i: int) -> tuple[SeqNode, int]:
        items: list[Node] = []
        while True:
            i = self.skip(i)
            if self.text[i : i + 1] == "]":
                return SeqNode(tuple(items)), i + 1
            item, i = self.value(i)
            i = self.skip(i)
            if self.text[i : i + 1] == ",":
                i += 1
            elif self.text[i : i + 1] != "]":
                raise Unreadable("a flow sequence is not closed or holds a key: value pair")
            items.append(item)
