"""What the server takes from a body: exactly what orjson reads, within orjson's limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook.server.decoding import MAX_DEPTH, UndecodableBody, decode_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=30,
)


@given(json_values, st.booleans())
def test_what_json_writes_is_read_back(value: Any, spaced: bool) -> None:
    raw = json.dumps(value, indent=1 if spaced else None, ensure_ascii=spaced).encode()
    assert decode_json(raw) == value


@given(st.dictionaries(st.text(max_size=4), json_values, min_size=1, max_size=4), st.data())
def test_a_repeated_key_keeps_its_last_value_as_go_reads_it(
    obj: dict[str, Any], data: st.DataObject
) -> None:
    """Go's encoding/json, which the API server reads and writes with, keeps the last of
    repeated keys; so does the server, escaped spellings of a key included."""
    key = data.draw(st.sampled_from(sorted(obj)))
    value = data.draw(json_values)
    escaped = data.draw(st.booleans())
    units = key.encode("utf-16-be")
    spelt = '"' + "".join(f"\\u{int.from_bytes(units[i:i + 2]):04x}"
                          for i in range(0, len(units), 2)) + '"' if escaped else json.dumps(key)
    raw = "{" + json.dumps(obj)[1:-1] + ", " + spelt + ": " + json.dumps(value) + "}"
    assert decode_json(raw.encode()) == {**obj, key: value}


@pytest.mark.parametrize("opener", ["[", '{"k":'])
def test_nesting_is_read_up_to_orjsons_limit_and_refused_past_it(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    inner = '"[{:"'  # brackets inside a string are not nesting
    at_limit = opener * MAX_DEPTH + inner + closer * MAX_DEPTH
    node = decode_json(at_limit.encode())
    for _ in range(MAX_DEPTH):  # down the one path, without recursion
        node = node[0] if opener == "[" else node["k"]
    assert node == "[{:"
    past = opener * (MAX_DEPTH + 1) + inner + closer * (MAX_DEPTH + 1)
    with pytest.raises(UndecodableBody, match=f"deeper than {MAX_DEPTH} levels"):
        decode_json(past.encode())


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "not valid JSON"),
    (b'{"a": NaN}', "not valid JSON"),
    (b'{"a": 1,}', "not valid JSON"),
    (b'{"a": 1} // comment', "not valid JSON"),
    (b'{"a": "\xff"}', "not valid UTF-8"),
    (b'{"a": "\\ud800"}', "not valid UTF-8"),
])
def test_what_rfc_8259_does_not_allow_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(UndecodableBody, match=message):
        decode_json(raw)
