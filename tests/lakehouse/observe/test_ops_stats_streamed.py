"""`ops stats` read the whole log in one `read()` and parsed every record before counting one: a
200,000-op log of 209 MB took the command to 1.4 GB. The log is now read a block at a time and each
record counted as it is read; the figures, and what is said of corrupt lines and of records that are
no ops, are those of a whole read."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lakehouse.common.jsonl as jsonl
from lakehouse.common.jsonl import AppendLog
from lakehouse.observe.observer import ObservedOp, Observer, now_utc


def _op(i: int) -> str:
    start = now_utc()
    op = ObservedOp.build(
        ts_start=start,
        ts_end=start + timedelta(milliseconds=i % 13),
        source="workflow",
        status=["completed", "failed", "skipped"][i % 3],
        mode=f"m{i % 4}",
        input={"query": f"forklift operator {i}"},
    )
    return json.dumps(op.model_dump(mode="json")) + "\n"


def _whole_read_stats(path) -> dict:
    """The figures counted from every line parsed at once, as the stats were before."""
    ops = []
    for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "op_id" in record:
            ops.append(record)
    return Observer(path).stats(rows=ops)


def test_stats_of_a_log_read_a_block_at_a_time_are_those_of_a_whole_read(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(jsonl, "READ_BLOCK", 700)  # an op line is about 600 bytes: lines span blocks
    path = tmp_path / "ops.jsonl"
    lines = [_op(i) for i in range(300)]
    lines[40] = '{"broken": \n'
    lines[41] = '{"no": "op"}\n'
    lines[250] = "not json\n"
    path.write_text("".join(lines), encoding="utf-8")

    observer = Observer(path)
    with caplog.at_level(logging.WARNING):
        first = observer.stats()
        with open(path, "a", encoding="utf-8") as fh:  # another process goes on appending
            fh.write("".join(_op(i) for i in range(300, 340)))
        second = observer.stats()

    figures = ("total", "by_status", "by_mode", "by_source", "duration_ms")
    assert {k: second[k] for k in figures} == {k: _whole_read_stats(path)[k] for k in figures}
    assert first["total"] == 297 and second["total"] == 337
    assert second["corrupt_lines"] == ["line 41: Expecting value: column 11", "line 251: Expecting value: column 1"]
    assert second["repairs"] == [
        f"{path}: record 41 is not an op (no op_id, ts_start, ts_end, duration_ms, source, status)"
    ]
    warned = [r.getMessage() for r in caplog.records]
    assert warned.count(f"{path}: corrupt line 41: Expecting value: column 11") == 1
    assert warned.count(f"{path}: corrupt line 251: Expecting value: column 1") == 1


def test_records_are_handed_on_while_the_log_is_still_being_read(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl, "READ_BLOCK", 4096)
    path = tmp_path / "ops.jsonl"
    path.write_text("".join(_op(i) for i in range(200)), encoding="utf-8")
    log = AppendLog(path)
    read_when_counted: list[int] = []
    log.scan_since(None, lambda record: read_when_counted.append(log.bytes_read))
    assert len(read_when_counted) == 200
    assert read_when_counted[0] == 4096 < path.stat().st_size  # the first op counted after one block


@settings(max_examples=120, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.dictionaries(st.text(max_size=6), st.integers(), max_size=3).map(json.dumps),
            st.sampled_from(["", "not json", "[1, 2]", '{"a": "\\u00e9"}', "{"]),
        ),
        max_size=12,
    ),
    torn=st.sampled_from(["", '{"half": ', "x"]),
    block=st.sampled_from([1, 2, 5, 64]),
)
def test_a_read_in_blocks_is_a_whole_read(tmp_path_factory, lines, torn, block):
    path = tmp_path_factory.mktemp("log") / "x.jsonl"
    path.write_text("".join(line + "\n" for line in lines) + torn, encoding="utf-8")
    whole_log = AppendLog(path)
    whole = list(whole_log.records())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonl, "READ_BLOCK", block)
        log = AppendLog(path)
        records, cursor, reset = log.read_since(None)
    assert reset and records == whole
    assert [str(c) for c in log.report.corrupt] == [str(c) for c in whole_log.report.corrupt]
    size = path.stat().st_size
    assert (cursor.offset, cursor.size, cursor.lines) == (size - len(torn.encode()), size, len(lines))
