"""A file of column names and no rows, ingested into a table that exists, was reported 'already
ingested' with --key (it never was) and added an empty snapshot without: it writes nothing now
and says so."""

from __future__ import annotations

import pytest

from lakehouse.data.ingest import ingest_file


@pytest.mark.parametrize("key", [None, "id"])
def test_a_header_alone_writes_no_snapshot(lakehouse, tmp_path, key):
    rows = tmp_path / "rows.csv"
    rows.write_text("id,name\n1,a\n2,b\n")
    first = ingest_file(lakehouse.tables, rows, "people", key=key)
    header = tmp_path / "header.csv"
    header.write_text("id,name\n")
    done = ingest_file(lakehouse.tables, header, "people", key=key)
    assert (done.status, done.rows_in, done.rows_total) == ("nothing_to_write", 0, 2)
    assert done.snapshot_id == first.snapshot_id
    assert [s.snapshot_id for s in lakehouse.tables.load("people").snapshots()] == [first.snapshot_id]


def test_a_header_alone_still_creates_a_new_table(lakehouse, tmp_path):
    header = tmp_path / "header.csv"
    header.write_text("id,name\n")
    done = ingest_file(lakehouse.tables, header, "empty")
    assert (done.status, done.rows_total) == ("created", 0)
    assert lakehouse.tables.load("empty").schema().column_names == ["id", "name"]


def test_the_cli_says_nothing_to_write(lh_home, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    rows, header = tmp_path / "rows.csv", tmp_path / "header.csv"
    rows.write_text("id\n1\n")
    header.write_text("id\n")
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(rows), "-t", "t", "--key", "id"]).exit_code == 0
    said = runner.invoke(app, ["ingest", str(header), "-t", "t", "--key", "id"])
    assert said.exit_code == 0, said.output
    assert "lakehouse.t: nothing to write: the file has no rows; 1 rows total" in said.stdout
