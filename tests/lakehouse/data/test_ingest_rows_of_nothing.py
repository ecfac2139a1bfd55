"""JSON lines of `{}` (or objects whose every field is null) were refused by a new table (the file
has no columns) but appended to an existing table as rows of nulls: refused either way, naming the
line."""

from __future__ import annotations

import pytest

from lakehouse.data.ingest import IngestError, ingest_file


def test_lines_of_nothing_into_an_existing_table_are_refused_and_store_nothing(lakehouse, tmp_path):
    first = tmp_path / "a.jsonl"
    first.write_text('{"a": 1, "b": "x"}\n')
    ingest_file(lakehouse.tables, first, "t")
    before = lakehouse.tables.current_snapshot_id("t")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{}\n{}\n")
    with pytest.raises(IngestError, match=r"empty\.jsonl, line 1: the row holds no value"):
        ingest_file(lakehouse.tables, empty, "t")
    assert lakehouse.tables.current_snapshot_id("t") == before
    assert lakehouse.sql.query("SELECT count(*) FROM t").rows == [[1]]


def test_a_row_of_nulls_is_named_by_its_line_whatever_the_table(lakehouse, tmp_path):
    existing = tmp_path / "a.jsonl"
    existing.write_text('{"a": 1, "b": "x"}\n')
    ingest_file(lakehouse.tables, existing, "t")
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"a": 2}\n\n{"a": null, "b": null}\n')
    for table in ("fresh", "t"):
        with pytest.raises(IngestError, match=r"mixed\.jsonl, line 3: the row holds no value \(every column is null\)"):
            ingest_file(lakehouse.tables, mixed, table)
    assert not lakehouse.tables.exists("fresh")
    assert lakehouse.sql.query("SELECT count(*) FROM t").rows == [[1]]


def test_a_csv_row_of_empty_cells_is_a_row_of_nulls_as_before(lakehouse, tmp_path):
    """Only JSON's `{}` is refused: a CSV's blank spreadsheet row is a row of nulls, as before."""
    numbers = tmp_path / "n.csv"
    numbers.write_text("a,b\n1,2\n,\n")
    assert ingest_file(lakehouse.tables, numbers, "nums").rows_total == 2


def test_a_row_with_one_value_is_kept(lakehouse, tmp_path):
    some = tmp_path / "some.csv"
    some.write_text("a,b\n1,\n,y\n")
    done = ingest_file(lakehouse.tables, some, "partial")
    assert done.rows_total == 2
