"""`key_value` and `loads_json`: what a person types as KEY=VALUE, and JSON nested past Python's
recursion limit (a few kilobytes of brackets) read as unreadable text, never a RecursionError."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehouse.common.errors import JsonNestedTooDeep, KeyValueError
from lakehouse.common.text import bracket_depth, deepest_field, json_depth, key_value, loads_json
from lakehouse.errors import UserError

DEEP = "[" * 5000 + "]" * 5000


def test_a_value_that_reads_as_json_keeps_its_type():
    assert key_value("n=3") == ("n", 3)
    assert key_value('tags=["a"]') == ("tags", ["a"])
    assert key_value(" who = Ada ", strip=True) == ("who", "Ada")


def test_a_value_nested_too_deeply_stays_text():
    assert key_value("x=" + DEEP) == ("x", DEEP)


def test_loads_json_names_the_nesting():
    with pytest.raises(JsonNestedTooDeep, match=r"^nested too deeply: line 1 column 1") as info:
        loads_json(DEEP)
    # a JSONDecodeError for the readers' handlers, a user error for the HTTP status and exit code
    assert isinstance(info.value, json.JSONDecodeError) and isinstance(info.value, UserError)
    assert (info.value.msg, info.value.colno) == ("nested too deeply", 1)
    again = pickle.loads(pickle.dumps(info.value))  # as a task result crosses processes
    assert type(again) is JsonNestedTooDeep and str(again) == str(info.value)
    assert info.value.doc == DEEP[: JsonNestedTooDeep.SHOWN] and len(DEEP) > JsonNestedTooDeep.SHOWN  # a part
    assert loads_json(b'{"a": [[1]]}') == {"a": [[1]]}


def test_no_equals_sign_is_named():
    with pytest.raises(KeyValueError, match=r"'n3': expected KEY=VALUE"):
        key_value("n3")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"inputs": {"x": [[[1]]], "y": 2}}, "inputs.x"),
        ({"a": 1, "b": {"c": {"d": {}}}}, "b.c.d"),
        ([[1]], ""),
        ({"value": [{"deeper": [1]}]}, "value"),
    ],
)
def test_deepest_field_names_the_keys_down_to_the_deepest_point(value, field):
    assert deepest_field(value) == field


def _depth_as_a_parser_reads(text: str) -> int:
    """One character at a time: strings skipped (an open one runs to the end), brackets counted."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


@given(st.text(alphabet='[]{}"\\a\n,:', max_size=300))
def test_bracket_depth_reads_any_text_as_a_parser_would(text):
    assert bracket_depth(text) == _depth_as_a_parser_reads(text)


KEYS = st.text(alphabet='k"[{\\', max_size=3)
JSON_VALUES = st.recursive(
    st.none() | st.integers() | st.text(alphabet='ab"\\[]{}\n'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_bracket_depth_of_valid_json_is_its_nesting(value):
    assert bracket_depth(json.dumps(value)) == json_depth(value)


def test_bracket_depth_is_linear_in_the_texts_length():
    """Escaped quotes after a quote nothing closes were rescanned from each of them (80 KB: 27 s);
    these 8 MB now take a single pass. The count is what shows it: 4 million escaped quotes."""
    text = "[" * 200 + '"' + '\\"' * 4_000_000
    assert bracket_depth(text) == 200
    assert bracket_depth("[" * 5_000_000 + "]" * 5_000_000) == 5_000_000
