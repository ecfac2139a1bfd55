"""A home whose path holds a space, made before the warehouse became a plain path (2026-12-07): every
version until then gave pyiceberg the warehouse as the file:// URI of `<home>/warehouse`, which it never
unquotes, so the tables of `/data/lake house` live in the sibling `/data/lake%20house/warehouse`. That
folder is this home's own, not another home's: the upgraded lakehouse refused every write to those
tables ('this home was copied or moved from there'), although nothing was copied or moved."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.core import Lakehouse


def test_a_table_an_older_version_kept_beside_the_home_takes_writes_and_gc_keeps_it_quietly(tmp_path):
    home = tmp_path / "lake house"
    # what every version before 2026-12-07 used as the default warehouse of this home
    older = Lakehouse(Settings(home=home, warehouse_url=(home / "warehouse").as_uri()))
    try:
        older.tables.write_arrow("t", pa.table({"id": [1, 2]}))
    finally:
        older.close()
    beside = tmp_path / "lake%20house" / "warehouse" / "lakehouse" / "t"
    assert beside.is_dir()

    upgraded = Lakehouse(Settings(home=home))
    try:
        upgraded.tables.write_arrow("t", pa.table({"id": [3]}))

        assert upgraded.sql.query("SELECT count(*), max(id) FROM t").rows == [[3, 3]]
        assert len(list((beside / "data").iterdir())) == 2  # the new file lies beside the old one
        report = upgraded.tables.gc(older_than_s=0, dry_run=True)
        assert report.errors == [] and report.removed == []
    finally:
        upgraded.close()
    assert not Path(home / "warehouse" / "lakehouse" / "t").exists()
