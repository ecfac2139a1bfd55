"""The shared op table (shared state on) loses its rows older than the history's cut-off in one
replace; rows a flush of another home adds meanwhile are never lost, and every reader follows."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from lakehouse.config import Settings
from lakehouse.data.shared_log import SharedLog
from lakehouse.data.tables import Tables
from lakehouse.observe.retention import forget_shared_ops_before

CUTOFF = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def homes(tmp_path):
    """Two LH_HOMEs (machines) on one catalog and warehouse."""
    common = {"catalog_url": f"sqlite:///{tmp_path / 'catalog.db'}", "warehouse_url": (tmp_path / "wh").as_uri()}
    return Settings(home=tmp_path / "a", **common), Settings(home=tmp_path / "b", **common)


def _op(op_id: str, ts: str | None) -> dict:
    return {"op_id": op_id, "ts_start": ts, "mode": "m", "status": "completed"}


def _ids(settings: Settings) -> list[str]:
    tables = Tables(settings)
    try:
        return sorted(tables.read_arrow("lakehouse._lh_ops", columns=["id"]).column("id").to_pylist())
    finally:
        tables.close()


def test_rows_older_than_the_cutoff_go_and_readers_follow(homes):
    a, b = (SharedLog(s, "ops") for s in homes)
    for n, ts in enumerate(["2026-01-02T00:00:00Z", "2026-05-31T23:59:59+00:00", "2026-06-01T00:00:00Z", None]):
        a.log.append(_op(f"a{n}", ts))
    b.log.append(_op("b0", "2026-03-01T00:00:00Z"))
    a.flush(), b.flush()
    assert len(b.rows()) == 5

    assert forget_shared_ops_before(a, CUTOFF, dry_run=True) == 3
    assert len(_ids(homes[0])) == 5
    assert forget_shared_ops_before(a, CUTOFF) == 3
    assert _ids(homes[0]) == ["a2", "a3"]  # on the cut-off, and without a time
    assert sorted(r.id for r in b.rows()) == ["a2", "a3"]  # a reader that had read the old rows
    assert forget_shared_ops_before(b, CUTOFF) == 0


def test_a_flush_committed_during_the_trim_loses_no_row(homes):
    a, b = (SharedLog(s, "ops") for s in homes)
    for n in range(50):
        a.log.append(_op(f"old{n}", "2026-01-01T00:00:00Z"))
    a.flush()
    stop = threading.Event()
    flushed: list[str] = []

    def flush_new_rows() -> None:
        n = 0
        while not stop.is_set() or n < 20:
            b.log.append(_op(f"new{n}", "2026-12-01T00:00:00Z"))
            b.flush()
            flushed.append(f"new{n}")
            n += 1
            time.sleep(0.1)  # an API flushes every 30 s; back to back, every trim lost its 8 commit races

    writer = threading.Thread(target=flush_new_rows)
    writer.start()
    try:
        dropped = sum(forget_shared_ops_before(SharedLog(homes[0], "ops"), CUTOFF) for _ in range(3))
    finally:
        stop.set()
        writer.join()
    assert dropped == 50
    assert _ids(homes[0]) == sorted(flushed)
