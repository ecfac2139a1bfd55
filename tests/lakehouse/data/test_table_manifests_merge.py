"""Each append wrote one manifest and the table's current snapshot listed them all, so every scan
and every commit read one more file per append (300 one-row appends: 300 manifests). Appends now
merge the small manifests once there are 100 (Iceberg's default count); rows and time travel are
unchanged."""

from __future__ import annotations

import pyarrow as pa


def test_many_appends_keep_few_manifests_and_every_row(lakehouse):
    ids = [lakehouse.tables.write_arrow("many", pa.table({"a": [i]})) for i in range(105)]
    tbl = lakehouse.tables.load("many")
    assert len(tbl.current_snapshot().manifests(tbl.io)) < 10
    assert sorted(lakehouse.tables.read_arrow("many").column("a").to_pylist()) == list(range(105))
    assert lakehouse.sql.query("SELECT count(*), sum(a) FROM many").rows == [[105, sum(range(105))]]
    before_merge = lakehouse.tables.read_arrow("many", snapshot_id=ids[98]).column("a").to_pylist()
    assert sorted(before_merge) == list(range(99))
