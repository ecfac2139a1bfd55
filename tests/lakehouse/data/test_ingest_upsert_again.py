"""Upserting a file again after another upsert changed its rows puts them back: it was skipped as
"already ingested" (its hash was in the table's history) and the table kept the other file's
values. Upserting it again while its rows are still what it says stays a no-op. Found by a probe."""

from __future__ import annotations

from lakehouse.data.ingest import ingest_file


def _write(path, rows):
    path.write_text("id,name\n" + "".join(f"{i},{name}\n" for i, name in rows))
    return path


def _table(lakehouse):
    return lakehouse.sql.query("SELECT id, name FROM rev ORDER BY id").rows


def test_a_file_upserted_again_after_its_rows_changed_puts_them_back(lakehouse, tmp_path):
    first = _write(tmp_path / "first.csv", [(1, "alpha"), (2, "alpha")])
    correction = _write(tmp_path / "correction.csv", [(1, "beta"), (2, "beta")])
    other = _write(tmp_path / "other.csv", [(3, "gamma")])
    assert ingest_file(lakehouse.tables, first, "rev", key="id").status == "created"
    assert ingest_file(lakehouse.tables, correction, "rev", key="id").status == "upserted"

    again = ingest_file(lakehouse.tables, first, "rev", key="id")
    assert (again.status, again.rows_updated) == ("upserted", 2)
    assert _table(lakehouse) == [[1, "alpha"], [2, "alpha"]]

    # another file's upsert that leaves its rows as they are: upserting it again changes nothing
    assert ingest_file(lakehouse.tables, other, "rev", key="id").status == "upserted"
    snapshots = len(lakehouse.tables.describe("rev")["snapshots"])
    assert ingest_file(lakehouse.tables, first, "rev", key="id").status == "already_ingested"
    assert len(lakehouse.tables.describe("rev")["snapshots"]) == snapshots
    assert _table(lakehouse) == [[1, "alpha"], [2, "alpha"], [3, "gamma"]]


def test_an_appended_file_is_not_appended_twice_after_an_upsert(lakehouse, tmp_path):
    """Without a key a re-run would add the rows twice: the recorded hash still decides."""
    first = _write(tmp_path / "first.csv", [(1, "alpha")])
    assert ingest_file(lakehouse.tables, first, "rev").status == "created"
    assert ingest_file(lakehouse.tables, _write(tmp_path / "b.csv", [(2, "b")]), "rev", key="id").status == "upserted"
    assert ingest_file(lakehouse.tables, first, "rev").status == "already_ingested"
    assert _table(lakehouse) == [[1, "alpha"], [2, "b"]]
