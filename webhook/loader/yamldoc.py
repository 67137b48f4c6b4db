"""YAML documents with the line of every field, read strictly.

Every error egressguard reports about a rules file names a line, so documents are composed
into nodes (which carry their marks) and built into plain values here, recording the line
of each field path on the way. Building by hand is also where YAML's surprises are refused
rather than silently resolved one way: a duplicate key (parsers disagree on which copy wins),
merge keys, non-string keys in rules, custom tags and recursive aliases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # PyYAML built without libyaml: same results, slower
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

FieldPath = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ = _TAG + "str", _TAG + "map", _TAG + "seq"
_MERGE, _TIMESTAMP = _TAG + "merge", _TAG + "timestamp"
_SCALAR_TAGS = frozenset(_TAG + name for name in ("null", "bool", "int", "float", "timestamp"))


class YamlError(ValueError):
    """Text that is not YAML egressguard accepts, at a 1-based ``line``."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class LocatedDocument:
    """One YAML document's value, and the line of each field path in it.

    A mapping entry's line is its key's line (where a reader looks for the field), a list
    item's the line of the item.
    """

    value: Any
    line: int
    lines: Mapping[FieldPath, int]

    def line_of(self, path: Sequence[str | int]) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        key = tuple(path)
        while key:
            found = self.lines.get(key)
            if found is not None:
                return found
            key = key[:-1]
        return self.line


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", type(None): "null"}.get(
        type(value), type(value).__name__
    )


class _Builder:
    """Builds one document's value from its node graph, recording lines as it goes."""

    def __init__(self, *, string_keys: bool) -> None:
        self.string_keys = string_keys
        self.lines: dict[FieldPath, int] = {}
        self.constructor = SafeConstructor()
        self.built: dict[int, Any] = {}  # collections already built, for aliases
        self.building: set[int] = set()

    def build(self, node: Node, path: FieldPath) -> Any:
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        # An alias is the same node object again: reuse its value (no exponential blow-up)
        # and refuse one that contains itself (no JSON value can).
        if id(node) in self.built:
            return self.built[id(node)]
        if id(node) in self.building:
            raise YamlError(_line(node), "a recursive alias: an anchor used inside itself")
        self.building.add(id(node))
        if isinstance(node, MappingNode):
            value: Any = self.mapping(node, path)
        elif isinstance(node, SequenceNode):
            value = self.sequence(node, path)
        else:  # pragma: no cover - the composer makes only these three
            raise YamlError(_line(node), "unexpected YAML node")
        self.building.discard(id(node))
        self.built[id(node)] = value
        return value

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag not in _SCALAR_TAGS:
            raise YamlError(_line(node), f"unsupported YAML tag {node.tag!r}; remove it")
        try:
            return self.constructor.construct_object(node, deep=True)
        except (ValueError, ConstructorError):
            if node.tag == _TIMESTAMP:  # 2027-02-30 looks like a date and is none
                return node.value
            raise YamlError(_line(node), f"{node.value!r} is not a valid value") from None

    def mapping(self, node: MappingNode, path: FieldPath) -> dict[str, Any]:
        if node.tag != _MAP:
            raise YamlError(_line(node), f"unsupported YAML tag {node.tag!r}; remove it")
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = _line(key_node)
            if key_node.tag == _MERGE:
                raise YamlError(line, "merge keys (<<) are not supported; write the fields out")
            if not isinstance(key_node, ScalarNode):
                raise YamlError(line, "a mapping key must be a plain string, not a collection")
            key = self.scalar(key_node)
            if not isinstance(key, str):
                if self.string_keys:
                    raise YamlError(
                        line,
                        f"key {key_node.value!r} is read as {_type_name(key)}; keys are "
                        f"strings: quote it",
                    )
                key = str(key_node.value)
            if key in result:
                first = self.lines.get((*path, key), line)
                raise YamlError(
                    line,
                    f"duplicate key {key!r} (first at line {first}); YAML readers disagree on "
                    f"which copy wins, so keep exactly one",
                )
            child = (*path, key)
            self.lines[child] = line
            result[key] = self.build(value_node, child)
        return result

    def sequence(self, node: SequenceNode, path: FieldPath) -> list[Any]:
        if node.tag != _SEQ:
            raise YamlError(_line(node), f"unsupported YAML tag {node.tag!r}; remove it")
        result: list[Any] = []
        for index, item in enumerate(node.value):
            child = (*path, index)
            self.lines[child] = _line(item)
            result.append(self.build(item, child))
        return result


def _error_line(error: yaml.YAMLError, text: str) -> int:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    position = getattr(error, "position", None)  # a ReaderError: bad characters
    if isinstance(position, int):
        return text.count("\n", 0, position) + 1
    return 1


def _error_message(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None) or getattr(error, "reason", None)
    context = getattr(error, "context", None)
    text = str(problem) if problem else str(error).splitlines()[0]
    if context:
        mark = getattr(error, "context_mark", None)
        start = f" at line {int(mark.line) + 1}" if mark is not None else ""
        text = f"{text} ({context}{start})"
    return f"invalid YAML: {text}"


def parse_yaml(text: str, *, string_keys: bool = True) -> list[LocatedDocument]:
    """Every document in ``text``, empty ones included as ``None`` values.

    ``string_keys`` refuses keys YAML reads as something else (``443:``, ``yes:``); rules
    files want it, while Kubernetes objects read for ``validate`` keep such keys as written.
    Raises :class:`YamlError` with the line of the first problem.
    """
    documents: list[LocatedDocument] = []
    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            builder = _Builder(string_keys=string_keys)
            line = _line(node)
            builder.lines[()] = line
            value = builder.build(node, ())
            documents.append(LocatedDocument(value, line, builder.lines))
    except yaml.YAMLError as error:
        raise YamlError(_error_line(error, text), _error_message(error)) from None
    except RecursionError:
        raise YamlError(1, "the YAML is nested too deeply") from None
    return documents


def decode_text(data: bytes) -> str:
    """UTF-8 text (a byte order mark allowed), or :class:`YamlError` naming the line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise YamlError(line, "the file is not UTF-8 text") from None
