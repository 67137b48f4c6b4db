"""The strict YAML reader for text embedded in objects under review.

PyYAML's plain ``safe_load`` is the oracle: whenever the strict reader reads a document it
must read it as ``safe_load`` does, and what it cannot read confidently it refuses.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.syntax.yamlstrict import YamlError, read_strict

# -- the reader --------------------------------------------------------------------------

READABLE = {
    "block": "a: 1\nb:\n  c: two\n  d: [x, 'y', \"z\"]\n",
    "compact sequence under a key": "metrics:\n- prometheus\n- stackdriver\nnext: true\n",
    "sequence of mappings": "p:\n  - name: otel\n    port: 4317\n  - name: zipkin\n",
    "comments": "# head\na: 1  # trailing\n# between\nb: 'x # y'\n",
    "flow over lines": "a: {b: 1,\n  c: [2, 3]}\nd: e\n",
    "json": '{"a": {"b": [1, 2]}, "c": "d"}',
    "nulls": "a:\nb: ~\nc: null\n",
    "urls and colons": "a: http://x:80/y\nb: x:y\n",
    "document marker": "---\na: 1\n",
    "escapes": 'a: "\\u0041\\t"\nb: \'it\'\'s\'\n',
    "indented document": "  a: 1\n  b: 2\n",
}


@pytest.mark.parametrize("text", READABLE.values(), ids=READABLE.keys())
def test_reader_reads_plain_yaml_as_a_yaml_parser_does(text: str) -> None:
    assert read_strict(text).value == yaml.safe_load(text)


def test_block_scalars_are_kept_opaque_and_end_with_their_indentation() -> None:
    node = read_strict("a: |\n  x: 1\n  'unclosed\nb: 2\n").value
    assert isinstance(node, dict)
    assert list(node) == ["a", "b"]


def test_duplicate_keys_are_refused_naming_both_lines() -> None:
    with pytest.raises(YamlError) as raised:
        read_strict("a: 1\na: 2\n")
    assert raised.value.line == 2
    assert "duplicate key 'a' (first at line 1)" in raised.value.message


UNREADABLE = {
    "anchor and alias": "a: &x {m: 1}\nb: *x\n",
    "merge key": "<<: {a: 1}\n",
    "tag": "a: !!str 1\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "multi-line plain scalar": "a: b\n  c\n",
    "multi-line quoted scalar": "a: 'x\n  y'\n",
    "tab": "a:\tb\n",
    "unicode line separator": "a: 1\u2028b: 2\n",
    "next line": "a: 1\x85b: 2\n",
    "bare carriage return": "a: 1\rb: 2\n",
    "complex key": "? a\n: b\n",
    "nested mapping on one line": "a: b: c\n",
    "unclosed flow": "a: [1, 2\nb: 3\n",
    "unknown escape": 'a: "\\q"\n',
    "inconsistent indentation": "a:\n  - 1\n - 2\n",
    "directive": "%YAML 1.1\n---\na: 1\n",
    "deep nesting": "a: " + "[" * 100 + "]" * 100 + "\n",
}


@pytest.mark.parametrize("text", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_reader_refuses_yaml_it_cannot_read_confidently(text: str) -> None:
    with pytest.raises(YamlError):
        read_strict(text)


keys = st.text(alphabet="abcxyzMODE_", min_size=1, max_size=6)
scalars = (
    st.none() | st.booleans() | st.integers(-1000, 1000)
    | st.text(alphabet="abc XYZ:_-/.'\"#01", max_size=10)
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    document=st.dictionaries(keys, documents, max_size=4),
    flow=st.sampled_from([None, True, False]),
)
def test_whatever_the_reader_reads_it_reads_as_pyyaml_does(
    document: dict[str, Any], flow: bool | None
) -> None:
    text = yaml.safe_dump(document, default_flow_style=flow)
    try:
        node = read_strict(text)
    except YamlError:
        return
    assert node.value == yaml.safe_load(text)


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=80))
def test_reader_never_raises_anything_but_yaml_error(text: str) -> None:
    with contextlib.suppress(YamlError):
        read_strict(text)




# -- scalars YAML readers type differently ------------------------------------------------

# YAML 1.1 booleans and numbers that YAML 1.2 reads as text, and the reverse.
TYPED_DIFFERENTLY = ["yes", "off", "y", "010", "0x1", "1_000", "1:30", "1e3", "+1", "2027-01-01",
                     "0o7"]


@pytest.mark.parametrize("value", TYPED_DIFFERENTLY)
def test_plain_scalars_readers_type_differently_are_refused(value: str) -> None:
    with pytest.raises(YamlError, match="read differently"):
        read_strict(f"a: {value}\n")


@pytest.mark.parametrize("value", TYPED_DIFFERENTLY)
def test_the_same_scalars_quoted_are_text(value: str) -> None:
    assert read_strict(f"a: '{value}'\n").value == {"a": value}


def test_scalars_every_reader_types_alike_are_read() -> None:
    text = "a: 0\nb: -12\nc: 1.5\nd: true\ne: null\nf: ~\ng: text with spaces\nh: 5s\n"
    assert read_strict(text).value == yaml.safe_load(text)
