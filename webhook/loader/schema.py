"""Validating rules documents against their JSON Schemas, with messages a person can act on.

The schemas in ``schemas/`` are the reference for each kind's shape (editors can use them
too); this module runs them and turns each jsonschema error into ``(line, message)``: the
line of the offending field, and a message that names the field, says what is wrong and,
where it can, how to fix it.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from webhook.model.rules import API_VERSION
from webhook.syntax.yamlstrict import LocatedDocument

# Where each kind lives in a rules repository, for messages about a misplaced document.
KIND_HOMES = {
    "Config": "config.yaml",
    "Destination": "destinations/<name>.yaml",
    "Exception": "exceptions/<name>.yaml",
}
_SCHEMA_FILES = {
    "Config": "config.schema.json",
    "Destination": "destination.schema.json",
    "Exception": "exception.schema.json",
}

LineMessage = tuple[int, str]
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@functools.cache
def schema_for(kind: str) -> dict[str, Any]:
    """The JSON Schema of ``kind``, as shipped in ``webhook/loader/schemas``."""
    text = resources.files("webhook.loader").joinpath("schemas", _SCHEMA_FILES[kind]).read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(schema_for(kind))


def json_view(value: Any) -> Any:
    """``value`` as JSON Schema sees it: YAML dates become the ``YYYY-MM-DD`` text written."""
    if isinstance(value, dict):
        return {key: json_view(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_view(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def field_name(path: Sequence[str | int]) -> str:
    """``spec.ports[0].protocol``: the path as a person writes it."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            text += f"[{json.dumps(part)}]"
        else:
            text += f".{part}" if text else part
    return text


def describe_value(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


def _type_hint(expected: str, value: Any) -> str:
    if expected == "integer" and isinstance(value, str) and value.strip().isdigit():
        return "; write it without quotes"
    if expected == "string" and isinstance(value, bool):
        return "; quote it: YAML reads yes, no, on, off, true and false as booleans"
    if expected == "string" and isinstance(value, int | float):
        return "; quote it"
    if expected == "array" and not isinstance(value, list | dict):
        return f"; write a list, such as [{value}]"
    return ""


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    lowered = [choice for choice in choices if choice.lower() == word.lower()]
    match = lowered or close
    return f" (did you mean {match[0]!r}?)" if match else ""


def _messages(error: ValidationError, doc: LocatedDocument) -> Iterator[LineMessage]:
    """The (line, message) pairs one jsonschema error stands for."""
    path: tuple[str | int, ...] = tuple(error.absolute_path)
    field = field_name(path)
    prefix = f"{field}: " if field else ""
    schema = error.schema if isinstance(error.schema, dict) else {}
    value: Any = error.instance
    expected: Any = error.validator_value
    kind = error.validator
    if "propertyNames" in error.absolute_schema_path:
        key_path = (*path, value)
        description = schema.get("description", "an allowed key")
        yield doc.line_of(key_path), f"{field_name(key_path)}: {value!r} is not {description}"
    elif kind == "additionalProperties" and isinstance(value, dict):
        allowed = list(schema.get("properties", {}))
        for key in value:
            if key not in allowed:
                yield (
                    doc.line_of((*path, key)),
                    f"{field_name((*path, key))}: unknown field {key!r}{did_you_mean(key, allowed)}"
                    f"; {field or 'the document'} allows {', '.join(allowed)}",
                )
    elif kind == "required" and isinstance(value, dict):
        for name in expected:
            if name not in value:
                where = f"{field} " if field else ""
                yield doc.line_of(path), f"{where}is missing the required field {name!r}".strip()
    elif kind == "type":
        wanted = str(expected)
        got = describe_value(value)
        hint = _type_hint(wanted, value)
        yield (
            doc.line_of(path),
            f"{prefix}expected {_TYPE_NAMES.get(wanted, wanted)}, got {got}{hint}",
        )
    elif kind == "enum":
        options = [str(option) for option in expected]
        if isinstance(value, str):
            shown, hint = repr(value), did_you_mean(value, options)
        else:
            shown, hint = describe_value(value), _type_hint("string", value)
        yield doc.line_of(path), f"{prefix}{shown} is not one of {', '.join(options)}{hint}"
    elif kind == "const":
        yield doc.line_of(path), f"{prefix}must be {expected!r}, not {value!r}"
    elif kind in ("pattern", "maxLength") and "description" in schema:
        yield doc.line_of(path), f"{prefix}{value!r} is not {schema['description']}"
    elif kind in ("minLength", "minItems", "minProperties"):
        yield doc.line_of(path), f"{prefix}must not be empty"
    elif kind in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        yield doc.line_of(path), f"{prefix}{value!r} is out of range; use {low} to {high}"
    elif kind == "uniqueItems" and isinstance(value, list):
        seen: list[Any] = []
        for index, item in enumerate(value):
            if item in seen:
                yield doc.line_of((*path, index)), f"{field}[{index}]: {item!r} is listed twice"
            seen.append(item)
    else:
        yield doc.line_of(path), f"{prefix}{error.message}"


def header_problems(doc: LocatedDocument, kind: str, *, folder: str) -> list[LineMessage]:
    """``apiVersion`` and ``kind`` first: a wrong kind makes every other message noise."""
    body = doc.value
    if not isinstance(body, dict):
        return [
            (
                doc.line,
                f"expected a {kind} (a mapping with apiVersion, kind and spec), "
                f"got {describe_value(body)}",
            )
        ]
    found: list[LineMessage] = []
    version = body.get("apiVersion")
    if version != API_VERSION:
        got = "no apiVersion" if version is None else f"apiVersion {version!r}"
        found.append(
            (doc.line_of(("apiVersion",)), f"apiVersion must be {API_VERSION!r}, found {got}")
        )
    actual = body.get("kind")
    if actual != kind:
        if actual is None:
            message = f"missing kind; write 'kind: {kind}'"
        elif actual in KIND_HOMES:
            message = (
                f"kind {actual!r} does not belong in {folder}; a {actual} lives in "
                f"{KIND_HOMES[actual]}"
            )
        else:
            message = f"kind {actual!r} is not {kind!r}, the only kind {folder} holds"
        found.append((doc.line_of(("kind",)), message))
    return found


def schema_problems(doc: LocatedDocument, kind: str) -> list[LineMessage]:
    """Every schema violation in ``doc``, in line order."""
    found: set[LineMessage] = set()
    for error in _validator(kind).iter_errors(json_view(doc.value)):
        found.update(_messages(error, doc))
    return sorted(found)


def file_name_problem(
    doc: LocatedDocument, *, folder: str, stem: str, what: str
) -> LineMessage | None:
    """``metadata.name`` against the file name: a destination or exception lives in
    ``<folder><name>.yaml``. ``what`` names it with its article (``a destination``)."""
    name = str(doc.value["metadata"]["name"])
    if name == stem:
        return None
    noun = what.split(" ", 1)[1]
    return (
        doc.line_of(("metadata", "name")),
        f"metadata.name {name!r} does not match the file name; {what} lives in "
        f"{folder}{name}.yaml, so rename the file or the {noun}",
    )
