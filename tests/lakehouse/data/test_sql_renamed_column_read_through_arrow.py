"""SQL over a table read through a pyarrow dataset (a nested column here; on S3, every table) after
another tool renamed a column: the dataset matched Parquet columns by name, so the rows written before
the rename read NULL in the renamed column (pyiceberg, and DuckDB's own reader, match by field id)."""

from __future__ import annotations

import pyarrow as pa


def test_a_renamed_column_keeps_its_older_values(lakehouse):
    lakehouse.tables.write_arrow("posts", pa.table({"id": [1, 2], "body": ["a", "b"], "tags": [["x"], []]}))
    with lakehouse.tables.catalog.load_table(("lakehouse", "posts")).update_schema() as update:
        update.rename_column("body", "text")
    lakehouse.tables.write_arrow("posts", pa.table({"id": [3], "text": ["c"], "tags": [["y"]]}))

    result = lakehouse.sql.query("SELECT id, text, tags FROM posts ORDER BY id")

    assert result.rows == [[1, "a", ["x"]], [2, "b", []], [3, "c", ["y"]]]


def test_a_column_dropped_and_added_again_does_not_read_the_dropped_values(lakehouse):
    lakehouse.tables.write_arrow("posts", pa.table({"id": [1], "body": ["old"], "tags": [["x"]]}))
    with lakehouse.tables.catalog.load_table(("lakehouse", "posts")).update_schema() as update:
        update.delete_column("body")
    lakehouse.tables.write_arrow("posts", pa.table({"id": [2], "body": ["new"], "tags": [["y"]]}))

    result = lakehouse.sql.query("SELECT id, body FROM posts ORDER BY id")

    assert result.rows == [[1, None], [2, "new"]]
