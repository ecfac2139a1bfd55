"""`AppendLog.tail` (what `ops list` and the console's newest ops read) skipped a corrupt line without
a word, while `ops stats` and `ops sql` reported it: a damaged op went missing from the listing
silently. It is skipped with a warning naming where it starts, once per line."""

from __future__ import annotations

import logging

from lakehouse.common.jsonl import AppendLog


def test_a_corrupt_line_in_the_tail_is_warned_of_once(tmp_path, caplog):
    path = tmp_path / "ops.jsonl"
    first = '{"n": 1}\n'
    path.write_text(first + '{"broken": \n{"n": 3}\n')
    log = AppendLog(path)
    with caplog.at_level(logging.WARNING, logger="lakehouse.common.jsonl"):
        assert log.tail(10, lambda record: True) == [{"n": 1}, {"n": 3}]
        assert log.tail(10, lambda record: True) == [{"n": 1}, {"n": 3}]
    warned = [r.getMessage() for r in caplog.records if "corrupt line" in r.getMessage()]
    assert warned == [f"{path}: corrupt line at byte {len(first)}: Expecting value: column 11 (skipped)"]


def test_blank_lines_are_no_corrupt_lines(tmp_path, caplog):
    path = tmp_path / "ops.jsonl"
    path.write_text('{"n": 1}\n\n{"n": 2}\n')
    with caplog.at_level(logging.WARNING, logger="lakehouse.common.jsonl"):
        assert AppendLog(path).tail(10, lambda record: True) == [{"n": 1}, {"n": 2}]
    assert not caplog.records
