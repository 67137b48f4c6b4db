"""Reading YAML and JSON strictly: line numbers, refused surprises, the grant fast path that
must agree with YAML, the shipped schemas, and the documents ``validate`` reads."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from webhook.loader import Document, DocumentError, read_documents
from webhook.loader.grants import _fast_fields
from webhook.loader.schema import schema_for
from webhook.model.decision import Code
from webhook.syntax.yamlstrict import YamlError, parse_yaml

# --- YAML with lines ---------------------------------------------------------------------


def test_every_field_path_has_the_line_of_its_key() -> None:
    (doc,) = parse_yaml("a: 1\nspec:\n  ports:\n    - number: 443\n    - {number: 22}\n")
    assert doc.line_of(("a",)) == 1
    assert doc.line_of(("spec", "ports")) == 3
    assert doc.line_of(("spec", "ports", 1, "number")) == 5
    assert doc.line_of(("spec", "ports", 0, "missing")) == 4  # nearest ancestor


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first at line 1)"),
        ("a: {x: 1, x: 2}\n", 1, "duplicate key 'x'"),
        ("a: &base {x: 1}\nb:\n  <<: *base\n", 3, "merge keys (<<) are not supported"),
        ("a: !custom 1\n", 1, "unsupported YAML tag '!custom'"),
        ("a: !!binary aGVsbG8=\n", 1, "unsupported YAML tag"),
        ("a: !!set {x}\n", 1, "unsupported YAML tag"),
        ("a: &x [*x]\n", 1, "recursive alias"),
        ("443: HTTPS\n", 1, "key '443' is read as a number; keys are strings: quote it"),
        ("a: [1,\nb: 2\n", 3, "invalid YAML"),
        ("a: 1\n\tb: 2\n", 2, "invalid YAML"),
        ("a: \x07\n", 1, "invalid YAML"),
    ],
    ids=[
        "duplicate-key",
        "duplicate-key-in-flow-mapping",
        "merge-key",
        "custom-tag",
        "binary",
        "set",
        "recursive-alias",
        "number-key",
        "unclosed-flow",
        "tab-indent",
        "control-character",
    ],
)
def test_yaml_surprises_are_refused_with_their_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(YamlError) as raised:
        parse_yaml(text)
    assert raised.value.line == line
    assert fragment in raised.value.message


def test_aliases_are_shared_not_expanded() -> None:
    """A 'billion laughs' document costs its size, not its expansion."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 30)]
    (doc,) = parse_yaml("\n".join(lines) + "\n")
    assert doc.value["a29"][0] is doc.value["a28"]


def test_an_impossible_date_stays_text_for_the_schema_to_refuse() -> None:
    (doc,) = parse_yaml("expires: 2027-02-30\nok: 2027-02-28\n")
    assert doc.value == {"expires": "2027-02-30", "ok": date(2027, 2, 28)}


# --- the grant fast path agrees with YAML ---------------------------------------------------


def _yaml_fields(text: str) -> tuple[str, date | None]:
    value = yaml.safe_load(text) or {}
    return value.get("reason", ""), value.get("expires")


@pytest.mark.parametrize(
    "text",
    [
        "reason: Build caches in GCS.\n",
        "reason: it's (PAY-112), see docs/x_y+z=1 & more!\nexpires: 2030-01-01\n",
        "expires: 2027-06-30\nreason: 2 caches\n",
        "reason: 1.5e3 is a number but 1e3 is not\n",
    ],
    ids=["sentence", "punctuation", "expiry-first", "digits"],
)
def test_the_fast_path_reads_plain_grants_as_yaml_does(text: str) -> None:
    assert _fast_fields(text.encode()) == _yaml_fields(text)


@pytest.mark.parametrize(
    "text",
    [
        "reason: yes\n",
        "reason: null\n",
        "reason: 2027-01-01\n",
        "reason: 12\n",
        "reason: a #comment\n",
        "reason: a: b\n",
        "reason: 'quoted'\n",
        "reason: trailing \n",
        "reason: a\nreason: b\n",
        "expires: 2027-02-30\n",
        "expires: 2027-1-1\n",
        "reason: a\r\n",
        "reasn: a\n",
        "reason: a\n\n",
    ],
    ids=[
        "boolean",
        "null",
        "date",
        "number",
        "comment",
        "colon",
        "quoted",
        "trailing-space",
        "duplicate",
        "impossible-date",
        "short-date",
        "crlf",
        "unknown-key",
        "blank-line",
    ],
)
def test_the_fast_path_leaves_anything_unusual_to_yaml(text: str) -> None:
    assert _fast_fields(text.encode()) is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["reason", "expires"]),
            st.text(alphabet="aZ09 .,;:#()/_+'\"=@&!?-*%|>{}[]~\t", min_size=0, max_size=12),
        ),
        max_size=3,
    )
)
def test_whatever_the_fast_path_accepts_yaml_reads_the_same(
    fields: list[tuple[str, str]],
) -> None:
    text = "".join(f"{key}: {value}\n" for key, value in fields)
    fast = _fast_fields(text.encode())
    if fast is not None:
        assert fast == _yaml_fields(text)


# --- the shipped schemas ---------------------------------------------------------------------


def _object_schemas(schema: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            found.append(schema)
        for value in schema.values():
            found.extend(_object_schemas(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_object_schemas(value))
    return found


@pytest.mark.parametrize("kind", ["Config", "Destination", "Exception"])
def test_schemas_are_valid_and_closed(kind: str) -> None:
    schema = schema_for(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    objects = _object_schemas(schema)
    assert objects
    assert all(o.get("additionalProperties") is False for o in objects)


def test_exception_codes_know_every_violation_code() -> None:
    from webhook.loader.waivers import KNOWN_CODES

    assert set(KNOWN_CODES) == {code.value for code in Code}


# --- documents for validate ------------------------------------------------------------------

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec: {containers: [{name: a}]}\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _names(documents: list[Document]) -> list[str]:
    return [d.body["metadata"]["name"] for d in documents]


def test_documents_are_read_from_folders_recursively_in_sorted_order(tmp_path: Path) -> None:
    _write(tmp_path / "b.yaml", POD % "b")
    _write(tmp_path / "a/z.yml", POD % "z")
    _write(tmp_path / "a/y.json", json.dumps({"kind": "Pod", "metadata": {"name": "y"}}))
    _write(tmp_path / "notes.txt", "not a document")
    _write(tmp_path / ".hidden/c.yaml", POD % "hidden")
    documents = read_documents([tmp_path])
    assert _names(documents) == ["y", "z", "b"]
    assert documents[0].source == str(tmp_path / "a/y.json")


def test_multi_document_yaml_skips_empty_documents_and_expands_lists(tmp_path: Path) -> None:
    items = "apiVersion: v1\nkind: List\nitems:\n  - {kind: Pod, metadata: {name: l1}}\n" + (
        "  - {kind: Pod, metadata: {name: l2}}\n"
    )
    path = _write(tmp_path / "all.yaml", f"---\n{POD % 'first'}---\n# empty\n---\n{items}")
    documents = read_documents([str(path)])
    assert _names(documents) == ["first", "l1", "l2"]
    assert [d.index for d in documents] == [0, 1, 2]
    assert [d.line for d in documents] == [2, 12, 13]


def test_a_json_list_of_kind_list_is_expanded(tmp_path: Path) -> None:
    body = {"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "j"}}]}
    path = _write(tmp_path / "list.json", json.dumps(body))
    assert _names(read_documents([path])) == ["j"]


def test_keys_yaml_reads_as_numbers_are_kept_as_written(tmp_path: Path) -> None:
    path = _write(tmp_path / "cm.yaml", "kind: ConfigMap\ndata:\n  80: http\n")
    (document,) = read_documents([path])
    assert document.body["data"] == {"80": "http"}


@pytest.mark.parametrize(
    ("name", "text", "line", "fragment"),
    [
        ("bad.yaml", "kind: Pod\nmetadata: {name: x\n", 3, "invalid YAML"),
        ("dup.yaml", "kind: Pod\nkind: Service\n", 2, "duplicate key 'kind'"),
        ("bad.json", '{"kind": "Pod",\n "x": }', 2, "invalid JSON"),
        ("dup.json", '{"kind": "Pod",\n "kind": "Service"}', 2, "duplicate key 'kind'"),
        ("nan.json", '{"x": NaN}', None, "NaN is not a JSON number"),
        ("list.yaml", "kind: List\nitems: {a: 1}\n", 2, "items must be a list"),
    ],
    ids=["yaml-syntax", "yaml-duplicate", "json-syntax", "json-duplicate", "json-nan", "list"],
)
def test_unreadable_documents_name_file_and_line(
    tmp_path: Path, name: str, text: str, line: int | None, fragment: str
) -> None:
    path = _write(tmp_path / name, text)
    with pytest.raises(DocumentError) as raised:
        read_documents([path])
    assert raised.value.source == str(path)
    assert raised.value.line == line
    assert fragment in str(raised.value)
    assert str(raised.value).startswith(f"{path}:{line}:" if line else f"{path}:")


def test_a_missing_path_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="no such file or folder"):
        read_documents([tmp_path / "nowhere.yaml"])
