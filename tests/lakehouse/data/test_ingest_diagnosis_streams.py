"""The diagnosis of a CSV the fast reader refused walks the file a slice at a time: it copied the
whole file and decoded it into one string (a 500 MB file with one ragged last line took 4.75 GB),
so a big file was killed for memory instead of told its bad line. Same messages as before, also
when a character, a CRLF or a quoted line break is cut by a slice's end."""

from __future__ import annotations

import csv
import tracemalloc

import pytest

from lakehouse.data.ingest import IngestError, diagnose, ingest_file


@pytest.fixture(scope="module")
def lh(module_lakehouse):
    return module_lakehouse


def _diagnosis(path: str, data: memoryview) -> str:
    with pytest.raises(IngestError) as refused:
        diagnose.check_utf8(path, data, ",", ["a", "b"])
        diagnose.diagnose_csv(path, data, ",", csv.QUOTE_MINIMAL, {}, set())
    return str(refused.value)


def test_the_diagnosis_of_a_big_file_holds_no_copy_of_it():
    row = b"1," + b"x" * 1000 + b"\n"
    data = memoryview(bytearray(b"a,b\n" + row * 48_000 + b"1\n"))  # 48 MB, the last line ragged
    tracemalloc.start()
    try:
        message = _diagnosis("big.csv", data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == "big.csv, line 48002: expected 2 fields like the header, found 1"
    assert peak < len(data) // 4, f"the diagnosis held {peak:,} bytes for a file of {len(data):,}"


@pytest.mark.parametrize("cut", range(1, 9))
def test_what_a_slice_end_cuts_is_read_whole(monkeypatch, cut):
    monkeypatch.setattr(diagnose, "_SLICE", cut)
    text = 'a,b\r\n1,"é\r\nfin"\r\n2,ü€\r\n3,ok\r\n4\r\n'.encode()
    assert _diagnosis("cut.csv", memoryview(bytearray(text))) == (
        "cut.csv, line 6: expected 2 fields like the header, found 1"
    )
    bad = memoryview(bytearray("a,b\n1,é€\n2,ü".encode() + b"\xe9x\n"))
    assert _diagnosis("bad.csv", bad) == (
        "bad.csv, line 3, column 'b': byte 0xe9 at character 4 is not valid UTF-8; save the file as UTF-8"
    )
    torn = memoryview(bytearray("a,b\n1,é€".encode()[:-1]))  # the file ends inside a character
    assert "line 2, column 'b': byte 0xe2 at character 4 is not valid UTF-8" in _diagnosis("torn.csv", torn)


def test_a_stray_quote_in_a_file_read_a_slice_at_a_time_is_refused_where_it_opened(lh, tmp_path, monkeypatch):
    monkeypatch.setattr(diagnose, "_SLICE", 5)
    path = tmp_path / "stray.csv"
    path.write_text('id,comment\n1,ok\n2,"12 inch\n3,ok\n4,"x"\n5,ok\n')
    with pytest.raises(IngestError, match=r"stray.csv, line 3, column 'comment': a quoted value opened here is not"):
        ingest_file(lh.tables, path, "stray")


def _json_diagnosis(path: str, data: memoryview) -> str:
    with pytest.raises(IngestError) as refused:
        diagnose.check_utf8(path, data)
        diagnose.check_surrogates(path, data)
        diagnose.diagnose_jsonl(path, data, {})
    return str(refused.value)


def test_the_diagnosis_of_big_json_lines_holds_no_copy_of_them():
    line = b'{"id": 1, "note": "' + b"x" * 1000 + b'"}\n'
    data = memoryview(bytearray(line * 48_000 + b'{"id": "one"}\n'))  # 48 MB, the last line's id is text
    tracemalloc.start()
    try:
        message = _json_diagnosis("big.jsonl", data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == "big.jsonl, line 48001, column 'id': string value 'one', but line 1 has a number in this column"
    assert peak < len(data) // 4, f"the diagnosis held {peak:,} bytes for a file of {len(data):,}"


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 8])
def test_json_lines_cut_by_a_slice_end_are_read_whole(monkeypatch, cut):
    monkeypatch.setattr(diagnose, "_SLICE", cut)
    text = b'{"a": "\xc3\xa9"}\n\n{"a": "long line ' + b"y" * 40 + b'"}\n{"a": 5}\n'
    assert _json_diagnosis("cut.jsonl", memoryview(bytearray(text))) == (
        "cut.jsonl, line 4, column 'a': number value 5, but line 1 has a string in this column"
    )
    lone = memoryview(bytearray(b'{"a": "x"}\n{"a": "y"}\n{"a": "\\ud800"}\n'))
    assert _json_diagnosis("lone.jsonl", lone) == (
        "lone.jsonl, line 3: the escape \\ud800 is half of a UTF-16 surrogate pair, which is not valid text"
    )
