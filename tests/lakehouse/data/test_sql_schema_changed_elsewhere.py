"""SQL over a table whose schema another tool changed (a rename, a dropped and an added column, a
widened type): such a change makes no snapshot, and the current snapshot was read with the schema it
was written with, so the old names answered until the next write."""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.types import StringType


def test_sql_reads_the_current_table_by_its_current_schema(lakehouse):
    lakehouse.tables.write_arrow("evo", pa.table({"id": [1, 2], "score": [10, 20], "note": ["x", "y"]}))
    assert lakehouse.sql.query("SELECT * FROM evo ORDER BY id").columns == ["id", "score", "note"]
    with lakehouse.tables.catalog.load_table(("lakehouse", "evo")).update_schema() as update:
        update.rename_column("score", "points")
        update.delete_column("note")
        update.add_column("extra", StringType())

    result = lakehouse.sql.query("SELECT * FROM evo ORDER BY id")

    assert result.columns == ["id", "points", "extra"]
    assert result.rows == [[1, 10, None], [2, 20, None]]
    assert lakehouse.tables.read_arrow("evo").column_names == ["id", "points", "extra"]


def test_time_travel_still_reads_a_snapshot_by_the_schema_it_was_written_with(lakehouse):
    snapshot = lakehouse.tables.write_arrow("evo", pa.table({"id": [1], "score": [10]}))
    with lakehouse.tables.catalog.load_table(("lakehouse", "evo")).update_schema() as update:
        update.rename_column("score", "points")

    result = lakehouse.sql.query("SELECT * FROM evo", snapshot=snapshot)

    assert result.columns == ["id", "score"]
