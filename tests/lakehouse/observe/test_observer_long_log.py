"""A long op log is read as the System page polls it: the stats fold only what was appended since
the last call, the newest ops are read from the file's end. Both must say exactly what a whole read
says, whatever happened to the file in between (appends by another process, a torn or corrupt line,
the file replaced or cut)."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lakehouse.common.jsonl as jsonl
from lakehouse.common.jsonl import AppendLog
from lakehouse.observe.observer import ObservedOp, Observer, now_utc


def _op(i: int) -> dict:
    start = now_utc()
    status = ["completed", "failed", "skipped"][i % 3]
    return ObservedOp.build(
        ts_start=start, ts_end=start + timedelta(milliseconds=i), source="http", status=status, mode=f"m{i % 4}"
    ).model_dump(mode="json")


def _counts(stats: dict) -> dict:
    """The counted part of the stats (what was reported about bad lines stays reported)."""
    return {k: v for k, v in stats.items() if k not in ("repairs", "corrupt_lines")}


def _whole(observer: Observer) -> dict:
    return _counts(Observer(observer.path).stats(rows=Observer(observer.path).ops()))


def _append_raw(observer: Observer, text: str) -> None:
    with open(observer.path, "a", encoding="utf-8") as fh:  # another process, a hand edit
        fh.write(text)


def test_the_folded_stats_follow_appends_and_a_replaced_or_cut_file(tmp_path):
    observer = Observer(tmp_path / "ops.jsonl")
    for i in range(7):
        observer.log.append(_op(i))
    assert observer.stats()["total"] == 7
    for i in range(7, 12):
        observer.log.append(_op(i))
    _append_raw(observer, json.dumps(_op(12)) + "\n" + '{"torn": ')  # a writer mid-append
    stats = observer.stats()
    assert stats["total"] == 13 and _counts(stats) == _whole(observer)

    _append_raw(observer, '"x"}\n')  # the torn line completed: a record that is no op
    observer.log.append(_op(13))
    stats = observer.stats()
    assert stats["total"] == 14 and stats["by_status"] == {"completed": 5, "failed": 5, "skipped": 4}
    assert stats["repairs"] == [
        f"{observer.path}: record 14 is not an op (no op_id, ts_start, ts_end, duration_ms, source, status)"
    ]

    replacement = tmp_path / "new.jsonl"
    replacement.write_text("".join(json.dumps(_op(i)) + "\n" for i in range(3)))
    os.replace(replacement, observer.path)  # another inode
    assert observer.stats()["total"] == 3
    with open(observer.path, "r+b") as fh:  # the same file cut below what was read
        fh.truncate(len(json.dumps(_op(0))) + 1)
    stats = observer.stats()
    assert stats["total"] == 1 and _counts(stats) == _whole(observer)


def test_the_newest_ops_are_those_of_a_whole_read_and_filters_hold(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl, "TAIL_BLOCK", 100)  # lines span blocks
    observer = Observer(tmp_path / "ops.jsonl")
    for i in range(30):
        observer.log.append({**_op(i), "run_id": f"r{i % 2}"})
    _append_raw(observer, "not json\n" + '{"op_id": 5}\n')
    observer.log.append({**_op(30), "run_id": "r0"})
    _append_raw(observer, '{"op_id": "torn", "ts_st')  # mid-append: not read yet
    whole = observer.ops()
    assert observer.ops(limit=5) == whole[-5:]
    assert observer.ops(limit=100) == whole
    assert observer.ops(run_id="r1", limit=3) == [op for op in whole if op["run_id"] == "r1"][-3:]
    assert observer.ops(run_id="nope", limit=3) == []


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.dictionaries(st.text(max_size=6), st.integers(), max_size=3).map(json.dumps),
            st.sampled_from(["", "not json", "[1, 2]", '{"a": "\\u00e9"}', "{"]),
        ),
        max_size=12,
    ),
    torn=st.sampled_from(["", '{"half": ', "x"]),
    n=st.integers(min_value=0, max_value=14),
    block=st.sampled_from([1, 2, 5, 64]),
)
def test_a_tail_is_the_end_of_a_whole_read(tmp_path_factory, lines, torn, n, block):
    path = tmp_path_factory.mktemp("log") / "x.jsonl"
    path.write_text("".join(line + "\n" for line in lines) + torn, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonl, "TAIL_BLOCK", block)
        log = AppendLog(path)
        whole = list(log.records())
        assert log.tail(n, lambda record: True) == (whole[-n:] if n else [])
