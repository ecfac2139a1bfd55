from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.common.jsonl import AppendLog
from lakehouse.data.sql.guard import SqlRejected
from lakehouse.observe.observer import ObservedOp, Observer, now_utc


def _op(node: str, status: str = "completed", ms: float = 10.0, mode: str = "fixture.echo", **kw) -> ObservedOp:
    start = now_utc()
    return ObservedOp.build(
        ts_start=start,
        ts_end=start + timedelta(milliseconds=ms),
        source="workflow",
        workflow="wf",
        run_id="r1",
        node_id=node,
        mode=mode,
        status=status,
        **kw,
    )


def test_build_summarizes_and_hashes(tmp_path):
    op = _op("a", input={"text": "x" * 5000}, output={"ok": True}, summary_chars=100)
    assert op.input["truncated"] is True and op.input["chars"] > 5000 and len(op.input["head"]) == 100
    assert op.output == {"ok": True}
    assert len(op.input_sha256) == 64 and op.input_sha256 != op.output_sha256
    assert op.duration_ms == pytest.approx(10.0)


def test_ring_evicts_oldest_and_never_refuses(tmp_path):
    observer = Observer(tmp_path / "ops.jsonl", ring_size=3)
    for i in range(5):
        observer.record(_op(f"n{i}"))
    assert [op.node_id for op in observer.ring] == ["n2", "n3", "n4"]
    assert len(observer.ops()) == 5  # the log keeps everything


def test_write_failure_is_counted_not_raised(tmp_path):
    observer = Observer(tmp_path / "sub" / "ops.jsonl")
    (tmp_path / "sub").rename(tmp_path / "gone")
    (tmp_path / "sub").write_text("a file where the log's folder was")
    observer.record(_op("a"))  # must not raise
    assert observer.write_failures == 1
    assert [op.node_id for op in observer.ring] == ["a"]
    assert observer.stats(rows=[])["write_failures"] == 1


def test_a_torn_tail_is_left_alone_and_the_next_append_starts_a_line_of_its_own(tmp_path):
    """Opening the log never cuts the last line: it may be another process's append in progress."""
    path = tmp_path / "ops.jsonl"
    log = AppendLog(path)
    log.append({"a": 1})
    log.append({"a": 2})
    with open(path, "ab") as fh:
        fh.write(b'{"a": 3, "b"')
    reopened = AppendLog(path)
    assert path.read_bytes().endswith(b'{"a": 3, "b"')
    assert list(reopened.records()) == [{"a": 1}, {"a": 2}] and reopened.report.corrupt == []
    reopened.append({"a": 4})
    again = AppendLog(path)
    assert [r["a"] for r in again.records()] == [1, 2, 4]
    assert [(c.line, c.text) for c in again.report.corrupt] == [(3, '{"a": 3, "b"')]


def test_opening_the_log_while_others_append_loses_no_record(tmp_path):
    """Every CLI start opens the ops log while the API appends to it: the open cut off what it took
    for a torn line (a write in progress) at a length read earlier, records appended meanwhile too."""
    import multiprocessing

    path = tmp_path / "ops.jsonl"
    writers = [
        multiprocessing.get_context("fork").Process(target=_append_many, args=(path, w, 3_000)) for w in range(2)
    ]
    for writer in writers:
        writer.start()
    while any(w.is_alive() for w in writers):
        AppendLog(path)  # what every process start does
    for writer in writers:
        writer.join()
    records = list(AppendLog(path).records())
    assert sorted((r["w"], r["i"]) for r in records) == [(w, i) for w in range(2) for i in range(3_000)]


def _append_many(path, writer: int, count: int) -> None:
    log = AppendLog(path)
    for i in range(count):
        log.append({"w": writer, "i": i, "pad": "x" * (300 + 4_000 * (i % 3 == 0))})


def test_corrupt_line_in_the_middle_is_reported_not_dropped_silently(tmp_path):
    path = tmp_path / "ops.jsonl"
    deep = "[" * 100_000 + "]" * 100_000  # past the recursion limit: a RecursionError failed every read
    path.write_text('{"a": 1}\nnot json at all\n[1, 2]\n' + deep + '\n{"a": 2}\n')
    log = AppendLog(path)
    assert [r["a"] for r in log.records()] == [1, 2]
    assert [(c.line, c.reason) for c in log.report.corrupt] == [
        (2, "Expecting value: column 1"),
        (3, "not a JSON object"),
        (4, "nested too deeply"),
    ]
    assert path.read_text().count("\n") == 5, "a corrupt line is reported, never rewritten"


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=20), st.none()), max_size=4),
        max_size=10,
    )
)
def test_append_log_round_trip(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("log") / "x.jsonl"
    log = AppendLog(path)
    for record in records:
        log.append(record)
    assert list(AppendLog(path).records()) == records


def test_stats_and_sql(tmp_path):
    observer = Observer(tmp_path / "ops.jsonl")
    for i, status in enumerate(["completed", "completed", "failed", "skipped"]):
        observer.record(_op(f"n{i}", status=status, ms=10 * (i + 1), mode="fixture.upper" if i else "fixture.echo"))
    stats = observer.stats()
    assert stats["total"] == 4
    assert stats["by_status"] == {"completed": 2, "failed": 1, "skipped": 1}
    assert stats["by_mode"] == {"fixture.upper": 3, "fixture.echo": 1}
    assert stats["duration_ms"]["p50"] == pytest.approx(20.0)
    columns, rows = observer.sql("SELECT status, count(*) AS n FROM ops GROUP BY 1 ORDER BY 1")
    assert columns == ["status", "n"]
    assert rows == [("completed", 2), ("failed", 1), ("skipped", 1)]


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM ops",
        "SELECT 1; SELECT 2",
        "COPY ops TO '/tmp/x.csv'",
        "ATTACH '/tmp/x.db'",
        "SELECT * FROM read_text('/etc/passwd')",
    ],
)
def test_ops_sql_is_read_only(tmp_path, query):
    observer = Observer(tmp_path / "ops.jsonl")
    observer.record(_op("a"))
    with pytest.raises(Exception, match="not allowed|read-only|exactly one statement|disabled|Permission"):
        observer.sql(query)
    assert len(observer.ops()) == 1


def test_ops_sql_rejects_empty(tmp_path):
    with pytest.raises(SqlRejected, match="empty SQL"):
        Observer(tmp_path / "ops.jsonl").sql("  ")


def test_a_mask_inside_json_syntax_keeps_the_summary_as_text():
    op = _op("a", input={"flag": True, "n": 12345678}, secrets=["12345678"])
    assert op.input == {"redacted": True, "head": '{"flag":true,"n":***}'}
    assert len(op.input_sha256) == 64


def test_a_json_record_that_is_no_op_is_skipped_and_reported_not_a_failed_stats_or_sql(tmp_path, caplog):
    """`{"op_id": 5}` appended by hand made `ops stats` fail with KeyError: duration_ms and `ops sql`
    with ArrowTypeError, exit 2; `ops list` showed a row of None."""
    import json
    import logging

    observer = Observer(tmp_path / "ops.jsonl")
    observer.record(ObservedOp.build(ts_start=now_utc(), source="mode", status="completed", mode="m"))
    with open(observer.path, "a") as fh:
        fh.write('{"op_id": 5}\n')
        fh.write(json.dumps({**observer.ops()[0], "op_id": "x2", "mode": 7, "tokens": "many"}) + "\n")
    with caplog.at_level(logging.WARNING, logger="lakehouse.observe.observer"):
        stats = observer.stats()
    assert stats["total"] == 2 and stats["repairs"] == [
        f"{observer.path}: record 2 is not an op (no op_id, ts_start, ts_end, duration_ms, source, status)"
    ]
    assert any("record 2 is not an op" in m for m in caplog.messages)
    columns, rows = observer.sql("SELECT op_id, mode, tokens FROM ops ORDER BY op_id")
    assert rows[1] == ("x2", "7", None)
