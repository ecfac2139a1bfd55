"""An upsert right after another tool renamed a column (a schema change makes no snapshot): the merge
read the table's rows under the names of the snapshot's schema, so the rows the upsert did not touch
were written back with their values in a new column of the old name, the renamed one NULL."""

from __future__ import annotations

from lakehouse.data.ingest import ingest_file


def test_an_upsert_after_a_rename_keeps_the_untouched_rows_under_the_new_name(lakehouse, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("id,score,note\n1,10,x\n2,20,y\n")
    ingest_file(lakehouse.tables, first, "people")
    with lakehouse.tables.catalog.load_table(("lakehouse", "people")).update_schema() as update:
        update.rename_column("score", "points")
        update.delete_column("note")
    change = tmp_path / "change.csv"
    change.write_text("id,points\n2,99\n")

    assert ingest_file(lakehouse.tables, change, "people", key="id").status == "upserted"

    result = lakehouse.sql.query("SELECT * FROM people ORDER BY id")
    assert result.columns == ["id", "points"]
    assert result.rows == [[1, 10], [2, 99]]
