"""An upsert from a file of some of the table's columns replaces what the file says and keeps the
rest: the columns it did not have were set to null in every replaced row, without a word."""

from __future__ import annotations

from lakehouse.data.ingest import ingest_file


def test_an_upsert_of_some_columns_keeps_the_others(lakehouse, tmp_path):
    full = tmp_path / "full.csv"
    full.write_text("id,name,score\na,x,1\nb,y,2\n")
    ingest_file(lakehouse.tables, full, "people", key="id")
    partial = tmp_path / "scores.csv"
    partial.write_text("id,score\na,100\nc,7\n")
    done = ingest_file(lakehouse.tables, partial, "people", key="id")
    assert (done.status, done.rows_updated, done.rows_inserted, done.rows_total) == ("upserted", 1, 1, 3)
    rows = lakehouse.sql.query("SELECT id, name, score FROM people ORDER BY id").rows
    assert rows == [["a", "x", 100], ["b", "y", 2], ["c", None, 7]]
    again = ingest_file(lakehouse.tables, tmp_path / "scores.csv", "people", key="id")
    assert again.status == "already_ingested"
