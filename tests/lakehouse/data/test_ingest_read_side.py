"""Files the fast readers used to accept wrongly or crash on: each is read right or refused with
an IngestError naming the file (and line/column), and a refused file leaves no table behind."""

from __future__ import annotations

import pytest

from lakehouse.data.ingest import IngestError, ingest_file


@pytest.fixture(scope="module")
def lh(module_lakehouse):
    return module_lakehouse


def _refused(lh, path, table: str, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        ingest_file(lh.tables, path, table)
    assert not lh.tables.exists(table)


def test_quoted_line_breaks_are_kept_and_a_lone_misplaced_quote_within_a_line_is_read_as_before(lh, tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text('id,note,tail\n1,"two\nlines",a\n2,"x ""y""\r\nz",b\n3,say "hi",c\n4,"q"r,d\n')
    assert ingest_file(lh.tables, path, "notes").rows_total == 4
    assert lh.sql.query("SELECT note FROM notes ORDER BY id").rows == [
        ["two\nlines"],
        ['x "y"\r\nz'],
        ['say "hi"'],
        ["qr"],
    ]


def test_a_quote_left_open_to_the_end_of_the_file_is_refused_where_it_opened(lh, tmp_path):
    path = tmp_path / "open.csv"
    path.write_text('a,b\n1,"x\n2,y\n3,z\n')
    _refused(
        lh,
        path,
        "open_quote",
        r"open.csv, line 2, column 'b': a quoted value opened here is not closed before "
        "the end of the file",
    )
