"""SharedLog in one process: flush is idempotent, readers merge the table with the unflushed tail,
a crash between commit and cursor write re-flushes nothing twice, and the setting turns it off."""

from __future__ import annotations

import json
import time

import pytest

from lakehouse.config import Settings
from lakehouse.data.errors import SharedLogError
from lakehouse.data.shared_log import KINDS, FlushTimer, SharedLog, flush_all, is_shared_table, row_id
from lakehouse.data.tables import Tables


@pytest.fixture
def shared(tmp_path):
    """Two LH_HOMEs (machines) on one catalog and warehouse."""
    common = {"catalog_url": f"sqlite:///{tmp_path / 'catalog.db'}", "warehouse_url": (tmp_path / "wh").as_uri()}
    return Settings(home=tmp_path / "a", **common), Settings(home=tmp_path / "b", **common)


def op(i: int, who: str) -> dict:
    return {"op_id": f"{who}-{i}", "ts_start": f"2026-01-01T00:00:{i:02d}+00:00", "run_id": who, "mode": "m"}


def table_ids(settings: Settings, name: str = "ops") -> list[str]:
    tables = Tables(settings)
    try:
        return tables.read_arrow(f"lakehouse._lh_{name}", columns=["id"]).column("id").to_pylist()
    finally:
        tables.close()


def test_a_catalog_url_turns_shared_state_on_and_the_setting_overrides_it(tmp_path):
    assert not Settings(home=tmp_path).shared_state_enabled
    assert Settings(home=tmp_path, catalog_url="sqlite:///x.db").shared_state_enabled
    assert not Settings(home=tmp_path, catalog_url="sqlite:///x.db", shared_state="false").shared_state_enabled
    assert Settings(home=tmp_path, shared_state="on").shared_state_enabled


def test_flush_is_idempotent_and_readers_see_both_homes_once(shared):
    a, b = (SharedLog(s, "ops") for s in shared)
    for i in range(5):
        a.log.append(op(i, "a"))
        b.log.append(op(i, "b"))
    first = a.flush()
    assert (first.read, first.appended, first.already) == (5, 5, 0)
    again = a.flush()
    assert (again.read, again.appended) == (0, 0)
    # ordered by ts, then by origin (home a's log path sorts before b's)
    assert [r.id for r in b.rows()] == [f"{who}-{i}" for i in range(5) for who in "ab"]
    b.flush()
    assert sorted(table_ids(shared[0])) == sorted(f"{w}-{i}" for w in "ab" for i in range(5))
    assert len(a.rows()) == len(b.rows()) == 10


def test_a_crash_after_the_commit_and_before_the_cursor_write_adds_nothing_twice(shared):
    a = SharedLog(shared[0], "ops")
    for i in range(7):
        a.log.append(op(i, "a"))
    a.flush()
    a.cursor.path.unlink()  # what a SIGKILL right after the commit leaves: rows in, cursor not moved
    a.log.append(op(8, "a"))
    redo = SharedLog(shared[0], "ops").flush()
    assert (redo.read, redo.appended, redo.already) == (8, 1, 7)
    assert sorted(table_ids(shared[0])) == sorted(f"a-{i}" for i in [*range(7), 8])


def test_a_flush_commits_in_batches_of_the_configured_size(shared):
    settings = shared[0].model_copy(update={"shared_state_batch_rows": 4})
    a = SharedLog(settings, "ops")
    for i in range(10):
        a.log.append(op(i, "a"))
    report = a.flush()
    assert (report.batches, report.appended) == (3, 10)


def test_records_without_an_id_field_get_a_content_hash_and_a_line_logged_twice_is_stored_once(shared):
    a = SharedLog(shared[0], "pathway")
    event = {"op": "add", "id": "t1", "text": "forklift", "ts": "2026-01-01T00:00:00+00:00"}
    a.log.append(event)
    a.log.append(event)
    assert a.flush().appended == 1
    assert table_ids(shared[0], "pathway") == [row_id(KINDS["pathway"], event)]


def test_the_tables_are_labelled_and_shared_state_off_flushes_nothing(tmp_path):
    off = Settings(home=tmp_path / "h")
    log = SharedLog(off, "ops")
    log.log.append(op(1, "a"))
    assert log.flush().skipped == "shared state is off (LH_SHARED_STATE)"
    assert all(r.skipped for r in flush_all(off))
    assert not Tables(off).list()
    forced = log.flush(force=True)
    assert forced.appended == 1 and Tables(off).list() == ["lakehouse._lh_ops"]
    assert is_shared_table("lakehouse._lh_ops") and not is_shared_table("lakehouse.ops")


@pytest.mark.parametrize("cut", ["truncated in place", "replaced", "cut shorter"])
def test_a_log_cut_or_replaced_and_regrown_past_the_flushed_offset_is_flushed_from_its_start(shared, cut):
    """A log cut in place (`truncate`, logrotate's copytruncate) keeps its inode: once it had grown
    past the old offset before the next flush, the flush read on from the middle of the new lines
    and the rows before never reached the table (the probe: 20 of 60 ratings lost on every machine)."""
    a = SharedLog(shared[0], "ops")
    for i in range(20):
        a.log.append(op(i, "old"))
    a.flush()
    if cut == "truncated in place":
        with open(a.log.path, "r+b") as fh:
            fh.truncate(0)
    elif cut == "replaced":
        a.log.path.rename(a.log.path.with_name("ops.jsonl.1"))
    else:
        with open(a.log.path, "r+b") as fh:
            fh.truncate(fh.seek(0, 2) // 2)  # half a log, cut mid-line
    new = 60 if cut != "cut shorter" else 5  # "cut shorter": stays under the offset
    for i in range(new):
        a.log.append(op(i, "new"))
    report = SharedLog(shared[0], "ops").flush()
    assert report.appended == new, report
    assert {f"new-{i}" for i in range(new)} <= set(table_ids(shared[0]))
    assert SharedLog(shared[0], "ops").flush().read == 0  # and the cursor is right again


def test_an_unknown_log_name_is_refused():
    with pytest.raises(SharedLogError, match="unknown shared log 'opz': use one of ops, playbooks, pathway"):
        SharedLog(Settings(), "opz")


def test_a_corrupt_line_is_not_flushed_and_the_rest_is(shared):
    a = SharedLog(shared[0], "ops")
    a.log.append(op(1, "a"))
    with open(a.log.path, "a") as fh:
        fh.write("{not json\n")
    a.log.append(op(2, "a"))
    assert a.flush().appended == 2
    assert [json.loads(json.dumps(r.record))["op_id"] for r in a.rows()] == ["a-1", "a-2"]


def test_old_snapshots_expire_and_every_row_stays(shared):
    settings = shared[0].model_copy(update={"shared_state_snapshots_kept": 2})
    a = SharedLog(settings, "ops")
    for i in range(14):
        a.log.append(op(i, "a"))
        a.flush()
    tables = Tables(settings)
    try:
        assert len(tables.load("lakehouse._lh_ops").snapshots()) <= 12
    finally:
        tables.close()
    assert sorted(table_ids(settings)) == sorted(f"a-{i}" for i in range(14))
    assert len(SharedLog(shared[1], "ops").rows()) == 14


def test_readers_recheck_the_table_at_most_every_refresh_interval(shared):
    a = SharedLog(shared[0], "ops")
    b = SharedLog(shared[1].model_copy(update={"shared_state_refresh_s": 3600.0}), "ops")
    assert b.rows() == []
    a.log.append(op(1, "a"))
    a.flush()
    assert b.rows() == []  # checked less than an hour ago: the cached answer
    b.log.append(op(2, "b"))
    b.flush()  # its own flush: it looks again
    assert [r.id for r in b.rows()] == ["a-1", "b-2"]


def test_the_flush_timer_flushes_in_the_background_and_once_more_on_stop(shared):
    a = SharedLog(shared[0], "ops")
    timer = FlushTimer(shared[0], interval_s=0.05).start()
    try:
        a.log.append(op(1, "a"))
        for _ in range(600):  # polls until the timer's flush landed (bounded, not timed)
            # the timer counts a flush after it lands: wait for the count too, or a reader can
            # see the rows between the two and find the count still 0
            if a.rows() and not a.unflushed() and timer.flushes >= 1:
                break
            time.sleep(0.05)
        assert not a.unflushed() and timer.flushes >= 1
        a.log.append(op(2, "a"))
    finally:
        timer.stop()
    assert sorted(table_ids(shared[0])) == ["a-1", "a-2"]
    assert FlushTimer(Settings(home=shared[0].home)).start()._thread is None  # shared state off: no thread
