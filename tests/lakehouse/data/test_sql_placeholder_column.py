"""A column named like the SQL engine's placeholder for an Arrow-read table (`__ARROW_SOURCE__`) made
the table unreadable by SQL for everyone ("zero-length delimited identifier"): anyone who could append
a file could do it. Tables with nested columns are read through Arrow (on S3, every table)."""

from __future__ import annotations

from lakehouse.data.ingest import ingest_file


def test_a_column_named_like_the_placeholder_reads_as_any_other(lakehouse, tmp_path):
    nested = tmp_path / "nested.jsonl"
    nested.write_text('{"id": 1, "tags": [1, 2]}\n')
    ingest_file(lakehouse.tables, nested, "victim")
    added = tmp_path / "added.csv"
    added.write_text("id,__ARROW_SOURCE__\n2,x\n")
    assert ingest_file(lakehouse.tables, added, "victim").status == "appended"
    result = lakehouse.sql.query('SELECT id, "__ARROW_SOURCE__" FROM victim ORDER BY id')
    assert result.rows == [[1, None], [2, "x"]]
