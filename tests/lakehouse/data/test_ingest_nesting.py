"""`lakehouse.data.ingest.nesting`: the screen that keeps deeply nested values away from Arrow's
JSON reader (a segfault) and pyiceberg (RecursionError) finds every crowded line, whatever the
chunk boundaries."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehouse.common.text import json_depth
from lakehouse.data.ingest import nesting
from lakehouse.data.ingest.errors import IngestError

LINES = st.lists(st.text(alphabet='[{]}a"', max_size=12).map(lambda s: s * 8), max_size=12)


@given(lines=LINES, chunk=st.integers(1, 64), final_newline=st.booleans())
def test_crowded_lines_are_those_with_more_openers_than_the_limit(lines, chunk, final_newline):
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    data = text.encode()
    expected, start = [], 0
    for number, line in enumerate(text.split("\n"), 1):
        if line.count("[") + line.count("{") > 20:
            expected.append((number, start, start + len(line)))
        start += len(line) + 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nesting, "_CHUNK", chunk)
        patch.setattr(nesting, "MAX_NESTING", 20)
        assert list(nesting._crowded_lines(memoryview(data))) == expected


def test_a_wide_line_is_not_a_deep_one():
    row = {"items": [{"n": i, "tags": [str(i)]} for i in range(500)]}
    nesting.check_json_lines("wide.jsonl", memoryview((json.dumps(row) + "\n").encode()))


def test_brackets_inside_strings_do_not_hide_a_deep_value():
    deep = "[" * 5000 + "]" * 5000
    line = json.dumps({"s": "]" * 5000, "a": "x"})[:-1] + ', "b": ' + deep + "}"
    with pytest.raises(IngestError, match=r"^f\.jsonl, line 1: nested too deeply to read; at most 64 levels"):
        nesting.check_json_lines("f.jsonl", memoryview(line.encode()))


@pytest.mark.parametrize(("value", "levels"), [(1, 0), ([], 1), ({"a": [1, {"b": []}]}, 4), ([[[[]]]], 4)])
def test_depth_counts_lists_and_objects(value, levels):
    assert json_depth(value) == levels


@pytest.mark.parametrize(
    "prefix",
    [
        b'{"s": "a\tb", "a": ',  # a raw tab in a string: Python's json refuses it strictly, Arrow reads on
        b'{"s": "caf\xe9", "a": ',  # not UTF-8
        b'{"s": "x", "a" ',  # no colon: not JSON at all, but brackets follow
    ],
)
def test_a_deep_line_that_is_not_valid_json_is_still_measured(prefix):
    line = prefix + b"[" * 40_000 + b"]" * 40_000 + b"}\n"
    with pytest.raises(IngestError, match=r"^f\.jsonl, line 1: nested (too deeply to read|4000\d levels deep)"):
        nesting.check_json_lines("f.jsonl", memoryview(line))
