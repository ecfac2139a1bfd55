"""User tables never expired a snapshot: 300 one-row appends made 44 MB of metadata and each append
slower. An ingest now keeps the newest `table_snapshots_kept` snapshots; the rows are never lost,
a kept snapshot still reads, and an expired snapshot's files become gc's to remove."""

from __future__ import annotations

import os
import time

import pytest

from lakehouse.core import Lakehouse
from lakehouse.data.ingest import ingest_file
from lakehouse.data.tables import TableError

KEPT = 3


@pytest.fixture
def small(settings):
    lh = Lakehouse(settings.model_copy(update={"table_snapshots_kept": KEPT}))
    yield lh
    lh.close()


def test_many_small_appends_keep_at_most_the_kept_snapshots_and_every_row(small, tmp_path):
    ids = []
    for i in range(20):
        one = tmp_path / f"r{i}.csv"
        one.write_text(f"a,b\n{i},x{i}\n")
        ids.append(ingest_file(small.tables, one, "many").snapshot_id)
        snapshots = small.tables.load("many").snapshots()
        assert len(snapshots) <= KEPT + 10  # expiry runs in steps, not on every write
    assert [s.snapshot_id for s in small.tables.load("many").snapshots()][-KEPT:] == ids[-KEPT:]
    assert len(small.tables.load("many").snapshots()) < 20
    assert small.sql.query("SELECT count(*), sum(a) FROM many").rows == [[20, sum(range(20))]]
    kept = ids[-KEPT]  # the oldest kept one: time travel reads the table as it was then
    assert small.tables.read_arrow("many", snapshot_id=kept).num_rows == 20 - KEPT + 1
    with pytest.raises(TableError, match=rf"has no snapshot {ids[0]} \(its snapshots: "):
        small.tables.read_arrow("many", snapshot_id=ids[0])


def test_an_expired_snapshots_files_are_left_to_gc(small, tmp_path):
    for i in range(KEPT + 11):
        one = tmp_path / f"r{i}.csv"
        one.write_text(f"a\n{i}\n")
        ingest_file(small.tables, one, "g")
    warehouse = small.settings.home_dir / "warehouse"
    past = time.time() - 7200
    for path in warehouse.rglob("*"):
        os.utime(path, (past, past))
    report = small.tables.gc(older_than_s=3600)
    manifest_lists = [f.path for f in report.removed if "/snap-" in f.path]
    assert manifest_lists, report.summary()  # the expired snapshots' manifest lists were unreferenced
    assert small.sql.query("SELECT count(*) FROM g").rows == [[KEPT + 11]]
