"""The one YAML reader: PyYAML's parser, with YAML's surprises refused rather than resolved.

Documents are composed into nodes (which carry their marks) and built into plain values
here, recording the line of each field path on the way, so every error names a line.
Building by hand is where the surprises are refused: a duplicate key (parsers disagree on
which copy wins), merge keys, custom tags, recursive aliases and nesting deeper than
:data:`MAX_DEPTH`.

Two readings share that builder:

* :func:`parse_yaml` reads files a person maintains (rules repositories, documents for
  ``validate``): several documents, and anchors with aliases (shared, never expanded).
* :func:`read_strict` reads YAML embedded in an object under review (Istio's mesh config, a
  ``proxy.istio.io/config`` annotation), where a spelling other YAML readers might take
  differently could smuggle a setting past a check. It also refuses anchors, aliases, tags,
  directives, several documents, explicit ``?`` keys, plain or quoted scalars continued over
  several lines, tabs, control characters and the line breaks only YAML 1.1 honours, and
  plain scalars that YAML 1.1 and YAML 1.2 readers type differently (``yes``, ``010``,
  ``1e3``, ``1:30``, dates).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # PyYAML built without libyaml: same results, slower
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

FieldPath = tuple[str | int, ...]
MAX_DEPTH = 64

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ = _TAG + "str", _TAG + "map", _TAG + "seq"
_MERGE, _TIMESTAMP = _TAG + "merge", _TAG + "timestamp"
_SCALAR_TAGS = frozenset(_TAG + name for name in ("null", "bool", "int", "float", "timestamp"))

# Tabs, controls, a byte order mark, and NEL/LS/PS, which YAML 1.1 readers break lines at.
_UNUSUAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029\ufeff\t]")
# Plain scalars every YAML reader types alike, by the tag YAML 1.1 gives them.
_AGREED = {
    _TAG + "null": re.compile(r"~|null|Null|NULL|"),
    _TAG + "bool": re.compile(r"true|True|TRUE|false|False|FALSE"),
    _TAG + "int": re.compile(r"-?(?:0|[1-9][0-9]*)"),
    _TAG + "float": re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"),
}
# Plain text that YAML 1.2 (or Go's YAML 1.1 reader) takes as a number or a boolean.
_TYPED_ELSEWHERE = re.compile(
    r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[yYnN]|(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)"
)
_RESOLVER = Resolver()


class YamlError(ValueError):
    """Text that is not YAML egressguard accepts, at a 1-based ``line``."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


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


def plain_reads_as_text(value: str) -> bool:
    """Whether ``value``, written as a plain scalar, is read as a string (not ``yes``, ``1``)."""
    tag: str = _RESOLVER.resolve(ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag == _STR


def _typed_differently(node: ScalarNode) -> bool:
    """Whether YAML readers may disagree on the type of this plain scalar."""
    if node.style:  # quoted or a block scalar: text for every reader (plain is None or "")
        return False
    if node.tag == _STR:
        return _TYPED_ELSEWHERE.fullmatch(node.value) is not None
    agreed = _AGREED.get(node.tag)
    return agreed is None or agreed.fullmatch(node.value) is None


def _line(node: Node | Any) -> int:
    return int(node.start_mark.line) + 1


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", type(None): "null"}.get(
        type(value), type(value).__name__
    )


class _Builder:
    """Builds one document's value from its node graph, recording lines as it goes."""

    def __init__(self, *, string_keys: bool, agreed_scalars: bool) -> None:
        self.string_keys = string_keys
        self.agreed_scalars = agreed_scalars
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
        if len(path) >= MAX_DEPTH:
            raise YamlError(_line(node), f"the YAML is nested more than {MAX_DEPTH} deep")
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
        if self.agreed_scalars and _typed_differently(node):
            raise YamlError(
                _line(node),
                f"{node.value[:40]!r} is read differently by YAML 1.1 and 1.2 readers; quote "
                f"it or write it plainly",
            )
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
                    f"duplicate key {key[:40]!r} (first at line {first}); YAML readers "
                    f"disagree on which copy wins, so keep exactly one",
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


def _compose(
    text: str, *, string_keys: bool, agreed_scalars: bool = False
) -> list[LocatedDocument]:
    documents: list[LocatedDocument] = []
    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            builder = _Builder(string_keys=string_keys, agreed_scalars=agreed_scalars)
            line = _line(node)
            builder.lines[()] = line
            value = builder.build(node, ())
            documents.append(LocatedDocument(value, line, builder.lines))
    except yaml.YAMLError as error:
        raise YamlError(_error_line(error, text), _error_message(error)) from None
    except RecursionError:
        raise YamlError(1, "the YAML is nested too deeply") from None
    return documents


def parse_yaml(text: str, *, string_keys: bool = True) -> list[LocatedDocument]:
    """Every document in ``text``, empty ones included as ``None`` values.

    ``string_keys`` refuses keys YAML reads as something else (``443:``, ``yes:``); rules
    files want it, while Kubernetes objects read for ``validate`` keep such keys as written.
    Raises :class:`YamlError` with the line of the first problem.
    """
    return _compose(text, string_keys=string_keys)


def _refuse_unusual_syntax(text: str) -> None:
    """Refuse the tokens :func:`read_strict` does not accept, naming the first one's line."""
    for token in yaml.scan(text, Loader=_Loader):
        kind = type(token).__name__
        line = int(token.start_mark.line) + 1
        if kind in ("AnchorToken", "AliasToken", "TagToken", "DirectiveToken"):
            name = kind.removesuffix("Token").lower()
            raise YamlError(line, f"a YAML {name} is not accepted here; write the value out")
        if kind == "KeyToken" and token.end_mark.index > token.start_mark.index:
            raise YamlError(line, "an explicit '?' key is not accepted here; write key: value")
        folded = getattr(token, "style", None) in (None, "", "'", '"')  # not a block scalar
        if kind == "ScalarToken" and folded and token.end_mark.line != token.start_mark.line:
            raise YamlError(line, "a plain or quoted value continues over several lines")


def read_strict(text: str) -> LocatedDocument:
    """The one document in ``text`` (``None`` when empty), read the strict way.

    Raises :class:`YamlError` for anything this module's docstring lists as refused.
    """
    unusual = _UNUSUAL.search(text)
    if unusual is not None:
        line = text.count("\n", 0, unusual.start()) + 1
        raise YamlError(line, "tabs, control characters or unusual line breaks")
    if "\r" in text.replace("\r\n", ""):
        raise YamlError(1, "bare carriage returns as line breaks")
    try:
        _refuse_unusual_syntax(text)
    except yaml.YAMLError as error:
        raise YamlError(_error_line(error, text), _error_message(error)) from None
    documents = _compose(text, string_keys=True, agreed_scalars=True)
    if len(documents) > 1:
        raise YamlError(documents[1].line, "several YAML documents; write exactly one")
    if not documents:
        return LocatedDocument(None, 1, {})
    return documents[0]


def decode_text(data: bytes) -> str:
    """UTF-8 text (a byte order mark allowed), or :class:`YamlError` naming the line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise YamlError(line, "the file is not UTF-8 text") from None
