"""Block structure: indentation, mappings, sequences and the values they hold."""

from __future__ import annotations

from webhook.engine.strict_yaml.flow import Flow, flow_depth
from webhook.engine.strict_yaml.nodes import (
    MAX_DEPTH,
    NULL,
    MapNode,
    Node,
    Scalar,
    SeqNode,
    Unreadable,
)
from webhook.engine.strict_yaml.scalars import (
    BLOCK_HEADER,
    plain_ok,
    quoted_end,
    split_key,
    strip_comment,
)


class Reader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.virtual: dict[int, tuple[int, str]] = {}
        self.stripped: dict[int, tuple[int, str]] = {}

    # -- lines ---------------------------------------------------------------------------
    def line(self, i: int) -> tuple[int, str]:
        """(indent, content without comment) of line ``i``."""
        if i in self.virtual:
            return self.virtual[i]
        if i not in self.stripped:
            raw = self.lines[i]
            content = raw.lstrip(" ")
            self.stripped[i] = (len(raw) - len(content), strip_comment(content))
        return self.stripped[i]

    def next_structural(self, i: int) -> int:
        while i < len(self.lines):
            if i in self.virtual or self.line(i)[1]:
                return i
            i += 1
        return i

    # -- documents -----------------------------------------------------------------------
    def document(self) -> Node:
        i = self.next_structural(0)
        if i < len(self.lines) and self.line(i)[1] == "---" and self.line(i)[0] == 0:
            i = self.next_structural(i + 1)
        if i >= len(self.lines):
            return NULL
        indent, content = self.line(i)
        if content.startswith(("%", "---", "...")):
            raise Unreadable("it has directives or several documents")
        node, i = self.node(i, indent, 0)
        if self.next_structural(i) < len(self.lines):
            raise Unreadable(f"line {i + 1} is not part of the document's structure")
        return node

    def node(self, i: int, indent: int, depth: int) -> tuple[Node, int]:
        if depth > MAX_DEPTH:
            raise Unreadable("it is nested too deeply")
        content = self.line(i)[1]
        if content == "-" or content.startswith("- "):
            return self.sequence(i, indent, depth)
        if split_key(content) is not None:
            return self.mapping(i, indent, depth)
        return self.value(content, i, indent - 1, depth, in_map=False)

    def mapping(self, i: int, indent: int, depth: int) -> tuple[Node, int]:
        pairs: list[tuple[str, Node]] = []
        while i < len(self.lines):
            at, content = self.line(i)
            if at < indent:
                break
            entry = split_key(content) if at == indent else None
            if entry is None:
                raise Unreadable(f"line {i + 1} is neither a key of its mapping nor below it")
            key, rest = entry
            value, i = self.value(rest, i, indent, depth + 1, in_map=True)
            pairs.append((key, value))
            i = self.next_structural(i)
        return MapNode(tuple(pairs)), i

    def sequence(self, i: int, indent: int, depth: int) -> tuple[Node, int]:
        items: list[Node] = []
        while i < len(self.lines):
            at, content = self.line(i)
            if at != indent or not (content == "-" or content.startswith("- ")):
                if at > indent:
                    raise Unreadable(f"line {i + 1} is indented like nothing above it")
                break
            rest = content[1:].lstrip(" ")
            offset = len(content) - len(rest)
            if rest.startswith("- ") or rest == "-" or split_key(rest) is not None:
                self.virtual[i] = (indent + offset, rest)
                item, i = self.node(i, indent + offset, depth + 1)
            else:
                item, i = self.value(rest, i, indent, depth + 1, in_map=False)
            items.append(item)
            i = self.next_structural(i)
        return SeqNode(tuple(items)), i

    def value(
        self, text: str, i: int, indent: int, depth: int, *, in_map: bool
    ) -> tuple[Node, int]:
        """The value written as ``text`` on line ``i``, owned by a key or dash at ``indent``.

        Only a key may own a sequence written at its own indentation, on the lines below it.
        """
        if BLOCK_HEADER.fullmatch(text):
            return self.block_scalar(i + 1, indent)
        after = self.next_structural(i + 1)
        below = after < len(self.lines) and self.line(after)[0] > indent
        if text == "":
            if below:
                return self.node(after, self.line(after)[0], depth + 1)
            if in_map and after < len(self.lines) and self.line(after)[0] == indent:
                content = self.line(after)[1]
                if content == "-" or content.startswith("- "):
                    return self.sequence(after, indent, depth + 1)
            return NULL, i + 1
        if text[0] in "&*!":
            raise Unreadable(f"line {i + 1} uses an anchor, alias or tag")
        if text[0] in "[{":
            return self.flow(text, i, indent, depth)
        if below:
            raise Unreadable(f"line {after + 1} continues a scalar over several lines")
        if text[0] in "'\"":
            value, end = quoted_end(text, 0)
            if text[end:].strip(" "):
                raise Unreadable(f"line {i + 1} has text after a quoted string")
            return Scalar(value, quoted=True), i + 1
        if not plain_ok(text):
            raise Unreadable(f"line {i + 1} has a value this reader does not accept")
        return Scalar(text), i + 1

    def block_scalar(self, i: int, indent: int) -> tuple[Node, int]:
        """``|`` or ``>`` text: kept opaque, it only has to end where its indentation does."""
        lines: list[str] = []
        while i < len(self.lines):
            raw = self.lines[i]
            if raw.strip(" ") and len(raw) - len(raw.lstrip(" ")) <= indent:
                break
            lines.append(raw.strip(" "))
            i += 1
        return Scalar("\n".join(lines).strip("\n"), quoted=True), i

    def flow(self, text: str, i: int, indent: int, depth: int) -> tuple[Node, int]:
        """A flow collection, possibly over several lines, which must close before ``indent``."""
        parts = [text]
        open_brackets = flow_depth(text)
        end = i + 1
        while open_brackets > 0:
            end = self.next_structural(end)
            if end >= len(self.lines) or self.line(end)[0] <= indent:
                raise Unreadable(f"the flow collection on line {i + 1} does not close")
            part = self.line(end)[1]
            parts.append(part)
            open_brackets += flow_depth(part)
            end += 1
        joined = " ".join(parts)
        node, at = Flow(joined, depth).value(0)
        if joined[at:].strip(" "):
            raise Unreadable(f"text follows the flow collection on line {i + 1}")
        return node, end
