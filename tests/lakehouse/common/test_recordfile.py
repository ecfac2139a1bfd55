"""The one JSON-lines reader behind every input file (lift sets, ratings, evidence, batch searches,
playbook imports): what people's editors produce reads, what cannot be read names file and line."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lakehouse.common.recordfile import InputFileError, read_json_lines


def test_a_byte_order_mark_and_windows_line_ends_read_like_plain_utf8(tmp_path):
    path = tmp_path / "excel.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"query": "Drying Machine Tender"}\r\n\r\n{"query": "Welder"}\r\n')
    assert read_json_lines(path) == [(1, {"query": "Drying Machine Tender"}), (3, {"query": "Welder"})]


def test_unicode_line_separators_inside_strings_stay_in_their_line(tmp_path):
    path = tmp_path / "titles.jsonl"
    path.write_text('{"query": "Cook\u2028Chef", "note": "a\x85b"}\n{"query": "Welder"}\n', encoding="utf-8")
    assert read_json_lines(path) == [(1, {"query": "Cook\u2028Chef", "note": "a\x85b"}), (2, {"query": "Welder"})]


def test_a_line_nested_too_deeply_names_its_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"query": "ok"}\n{"query": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(InputFileError, match=r"deep\.jsonl line 2, column 1: not valid JSON \(nested too deeply\)"):
        read_json_lines(path)


def test_a_broken_line_says_it_is_not_json(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"query": "ok"}\n{"query": \n')
    with pytest.raises(InputFileError, match=r"broken\.jsonl line 2, column 11: not valid JSON \(Expecting value\)"):
        read_json_lines(path)


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(st.characters() | st.sampled_from("\u2028\x85\r")),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(values, min_size=1, max_size=5), bom=st.booleans(), crlf=st.booleans(), ascii=st.booleans())
def test_whatever_json_dumps_writes_reads_back(tmp_path_factory, rows, bom, crlf, ascii):
    path = tmp_path_factory.mktemp("rows") / "rows.jsonl"
    end = "\r\n" if crlf else "\n"
    text = end.join(json.dumps(r, ensure_ascii=ascii) for r in rows) + "\n"
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate written unescaped (ensure_ascii=False) has no UTF-8 form: no editor can save
        # such a file, and its bytes are refused as not UTF-8, as they should be.
        assume(False)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + encoded)
    assert [value for _, value in read_json_lines(path)] == rows
