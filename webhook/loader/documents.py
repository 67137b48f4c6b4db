"""Reading Kubernetes objects from files and folders, for ``egressguard validate``.

What ``validate`` judges should be what the cluster would receive from ``kubectl apply`` of
the same files, so documents are read the way kubectl reads them (multi-document YAML, JSON,
``kind: List`` expanded) and as strictly as the API server: a duplicate key, which parsers
resolve differently, is an error rather than a guess.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from webhook.syntax.yamlstrict import YamlError, decode_text, parse_yaml

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


@dataclass(frozen=True, slots=True)
class Document:
    """One object to judge: the file it came from, its place in that file, its body."""

    source: str
    index: int
    body: Any
    line: int = 1


class DocumentError(ValueError):
    """A file that cannot be read as documents; ``line`` is ``None`` for the file as a whole."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line
        self.message = message


def _files(path: str) -> Iterator[str]:
    """``path`` itself, or the documents under a folder, recursively and in sorted order."""
    if path == STDIN or os.path.isfile(path):
        yield path
        return
    if not os.path.isdir(path):
        raise DocumentError(path, None, "no such file or folder")
    found: list[tuple[tuple[str, ...], str]] = []
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        relative = os.path.relpath(folder, path)
        parts = () if relative == "." else tuple(relative.split(os.sep))
        for name in names:
            if name.endswith(SUFFIXES) and not name.startswith("."):
                found.append(((*parts, name), os.path.join(folder, name)))
    # Lexical order of the path's parts, as kubectl -R walks: a/y.json, a/z.yml, b.yaml.
    yield from (file for _, file in sorted(found))


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


class _DuplicateKey(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


LineOf = Callable[[tuple[str | int, ...]], int]


def _json_documents(source: str, text: str) -> list[tuple[LineOf, Any]]:
    try:
        body = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as error:
        raise DocumentError(source, error.lineno, f"invalid JSON: {error.msg}") from None
    except _DuplicateKey as error:
        # json does not say where; YAML reads JSON too and does.
        try:
            parse_yaml(text, string_keys=False)
        except YamlError as located:
            raise DocumentError(source, located.line, located.message) from None
        raise DocumentError(source, None, f"duplicate key {error.args[0]!r}") from None
    except ValueError as error:
        raise DocumentError(source, None, f"invalid JSON: {error}") from None
    return [(lambda path: 1, body)]


def _yaml_documents(source: str, text: str) -> list[tuple[LineOf, Any]]:
    try:
        documents = parse_yaml(text, string_keys=False)
    except YamlError as error:
        raise DocumentError(source, error.line, error.message) from None
    return [(doc.line_of, doc.value) for doc in documents if doc.value is not None]


def _is_list(body: Any) -> bool:
    """``kind: List`` (or a typed list such as ``PodList`` with its ``items``), which kubectl
    applies item by item."""
    if not isinstance(body, dict):
        return False
    kind = body.get("kind")
    if kind == "List":
        return True
    return isinstance(kind, str) and kind.endswith("List") and isinstance(body.get("items"), list)


def _expand(source: str, line_of: LineOf, body: Any) -> Iterator[tuple[int, Any]]:
    if not _is_list(body):
        yield line_of(()), body
        return
    items = body.get("items")
    if items is None:
        return
    if not isinstance(items, list):
        raise DocumentError(source, line_of(("items",)), f"a {body['kind']}'s items must be a list")
    for index, item in enumerate(items):
        if item is not None:
            yield line_of(("items", index)), item


def _read_source(source: str) -> str:
    try:
        data = sys.stdin.buffer.read() if source == STDIN else _read_bytes(source)
    except OSError as error:
        raise DocumentError(source, None, f"cannot read: {error.strerror}") from None
    try:
        return decode_text(data)
    except YamlError as error:
        raise DocumentError(source, error.line, error.message) from None


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def read_documents(paths: Iterable[str | os.PathLike[str]]) -> list[Document]:
    """Every non-empty document in ``paths`` (files, folders, or ``-`` for stdin), in order.

    Raises :class:`DocumentError` naming the file and line of the first one unreadable.
    """
    found: list[Document] = []
    for path in paths:
        for source in _files(os.fspath(path)):
            text = _read_source(source)
            read = _json_documents if source.endswith(".json") else _yaml_documents
            index = 0
            for line_of, body in read(source, text):
                for item_line, item in _expand(source, line_of, body):
                    found.append(Document(source, index, item, item_line))
                    index += 1
    return found
