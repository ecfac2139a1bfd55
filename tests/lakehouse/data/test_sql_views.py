"""Views of current snapshots are shared across queries: they must never show stale data."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from lakehouse.data.sql.engine import SqlError


def _count(lakehouse, table: str = "events") -> int:
    return lakehouse.sql.query(f"SELECT count(*) FROM {table}").rows[0][0]


def test_a_new_snapshot_is_visible_to_the_next_query(lakehouse):
    lakehouse.tables.write_arrow("events", pa.table({"n": [1, 2]}))
    assert _count(lakehouse) == 2
    lakehouse.tables.write_arrow("events", pa.table({"n": [3]}), mode="append")
    assert _count(lakehouse) == 3
    lakehouse.tables.write_arrow("events", pa.table({"n": [9]}), mode="overwrite")
    assert lakehouse.sql.query("SELECT n FROM events").rows == [[9]]


def test_a_dropped_table_does_not_answer_from_an_old_view(lakehouse):
    lakehouse.tables.write_arrow("events", pa.table({"n": [1, 2]}))
    assert _count(lakehouse) == 2
    lakehouse.tables.drop("events")
    with pytest.raises(SqlError, match="events"):
        _count(lakehouse)


def test_a_recreated_table_shows_its_new_columns(lakehouse):
    lakehouse.tables.write_arrow("events", pa.table({"n": [1]}))
    assert lakehouse.sql.query("SELECT * FROM events").columns == ["n"]
    lakehouse.tables.drop("events")
    lakehouse.tables.write_arrow("events", pa.table({"kind": ["a"], "n": [5]}))
    result = lakehouse.sql.query("SELECT * FROM events")
    assert (result.columns, result.rows) == (["kind", "n"], [["a", 5]])


def test_time_travel_and_current_views_do_not_mix(lakehouse):
    first = lakehouse.tables.write_arrow("events", pa.table({"n": [1]}))
    lakehouse.tables.write_arrow("events", pa.table({"n": [2]}), mode="append")
    assert lakehouse.sql.query("SELECT count(*) FROM events", snapshot=first).rows == [[1]]
    assert _count(lakehouse) == 2
    assert lakehouse.sql.query("SELECT count(*) FROM events", snapshot=first).rows == [[1]]


def test_concurrent_queries_while_snapshots_change(lakehouse):
    lakehouse.tables.write_arrow("events", pa.table({"n": [0]}))
    errors: list[BaseException] = []
    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(_count(lakehouse))
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(1, 6):
        lakehouse.tables.write_arrow("events", pa.table({"n": [i]}), mode="append")
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert seen and min(seen) >= 1 and max(seen) <= 6
    assert _count(lakehouse) == 6
