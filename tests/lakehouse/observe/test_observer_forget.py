"""`Observer.forget_before`: the op log loses the ops that ended before the cut-off, and a
long-running reader's figures (its tally, kept between polls) follow the shorter log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lakehouse.observe.observer import ObservedOp, Observer


def _op(ended: datetime, status: str = "completed") -> ObservedOp:
    return ObservedOp(ts_start=ended, ts_end=ended, duration_ms=2.0, source="http", status=status)  # type: ignore[arg-type]


def test_forget_before_drops_old_ops_and_the_stats_follow(tmp_path):
    observer = Observer(tmp_path / "ops.jsonl")
    now = datetime.now(UTC)
    for days in (200, 120, 100):
        observer.record(_op(now - timedelta(days=days), "failed"))
    observer.record(_op(now - timedelta(days=1)))
    (tmp_path / "ops.jsonl").open("a").write('{"note": "not an op"}\n')
    assert observer.stats()["total"] == 4

    trimmed = observer.forget_before(now - timedelta(days=90))
    assert (trimmed.dropped, trimmed.kept) == (3, 2)
    figures = Observer(tmp_path / "ops.jsonl").stats()
    assert figures["total"] == 1 and figures["by_status"] == {"completed": 1}
    assert observer.stats()["total"] == 1  # the same reader, its tally built before the trim
    assert [op["status"] for op in observer.ops()] == ["completed"]
    assert '{"note": "not an op"}' in (tmp_path / "ops.jsonl").read_text()
