"""The byte-level checks behind the hostile-input answers, against an independent oracle."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.server.decoding import UndecodableBody, decode_json, outside_strings

LIMIT = 100

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=30,
)


def depth(value: Any) -> int:
    """The oracle: plain recursion, fine for the shallow values generated here."""
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def has_duplicates(text: str) -> bool:
    found = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        keys = [k for k, _ in items]
        found = found or len(keys) != len(set(keys))
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return found


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_what_orjson_writes_is_read_back(value: Any, spaced: bool) -> None:
    raw = json.dumps(value, indent=1 if spaced else None, ensure_ascii=spaced).encode()
    assert decode_json(raw, max_depth=LIMIT) == value


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=4), json_values, min_size=1, max_size=4),
       st.data())
def test_a_repeated_key_is_refused_wherever_it_is(obj: dict[str, Any], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(obj)))
    value = data.draw(json_values)
    inner = json.dumps(obj)[1:-1]
    raw = "{" + inner + ", " + json.dumps(key) + ": " + json.dumps(value) + "}"
    nested = '{"outer": [1, ' + raw + "]}"
    for text in (raw, nested):
        assert has_duplicates(text)
        with pytest.raises(UndecodableBody, match="repeats a key"):
            decode_json(text.encode(), max_depth=LIMIT)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.sampled_from(["[", '{"k":']), st.text(max_size=8))
def test_depth_is_measured_exactly(levels: int, opener: str, filler: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * levels + json.dumps(filler + "[{:") + closer * levels
    value = json.loads(text)
    if depth(value) > LIMIT:
        with pytest.raises(UndecodableBody, match="deeper than 100"):
            decode_json(text.encode(), max_depth=LIMIT)
    else:
        assert decode_json(text.encode(), max_depth=LIMIT) == value


@pytest.mark.parametrize(("raw", "outside"), [
    (b'{"a":"b"}', b"{:}"),
    (b'{"a\\"b":"c:d"}', b"{:}"),
    (b'{"a\\\\":"x"}', b"{:}"),
    (b'["\\\\\\"", ":"]', b"[, ]"),
])
def test_strings_are_cut_out_escapes_and_all(raw: bytes, outside: bytes) -> None:
    orjson.loads(raw)
    assert outside_strings(raw) == outside


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = '{"a": "' + "[" * 500 + '"}'
    assert decode_json(text.encode(), max_depth=LIMIT) == {"a": "[" * 500}
