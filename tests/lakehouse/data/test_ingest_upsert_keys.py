"""An upsert's key names one row: a blank or NaN key in the file is refused (a CSV's blank text cell
read as '' and each later blank key replaced the last), and so is an upsert onto a table that holds
one of the file's keys in several rows (appended without --key: all of them were replaced by one,
and the report said "222 updated, -221 new"). Nothing changes on a refusal."""

from __future__ import annotations

import re

import pytest

from lakehouse.data.ingest import IngestError, ingest_file
from tests.fixtures.tables import table_state


@pytest.mark.parametrize(
    ("name", "text", "row"),
    [
        ("blank.csv", "id,name\na,x\n,z\n", 2),
        ("spaces.csv", "id,name\n  ,z\nb,y\n", 1),
        ("nan.jsonl", '{"id": 1.5, "name": "x"}\n{"id": NaN, "name": "z"}\n', 2),
    ],
)
def test_a_blank_or_nan_key_is_refused(lakehouse, tmp_path, name, text, row):
    ingest_file(lakehouse.tables, _file(tmp_path, "start.csv", "id,name\nq,w\n"), "keyed", key="id")
    before = table_state(lakehouse, "keyed")
    path = _file(tmp_path, name, text)
    expected = rf"^{re.escape(str(path))}, column 'id': the key is empty in data row {row}$"
    with pytest.raises(IngestError, match=expected):
        ingest_file(lakehouse.tables, path, "keyed" if name.endswith(".csv") else "keyed_numbers", key="id")
    assert table_state(lakehouse, "keyed") == before and not lakehouse.tables.exists("keyed_numbers")


@pytest.mark.parametrize(
    ("line", "kind"), [('{"id": [1, 2]}', "list<item: int64>"), ('{"id": {"a": 1}}', "struct<a: int64>")]
)
def test_a_key_of_lists_or_objects_is_refused(lakehouse, tmp_path, line, kind):
    path = _file(tmp_path, "nested.jsonl", line + "\n")
    expected = rf"^{re.escape(str(path))}, column 'id': the key holds {re.escape(kind)} values; a key is one value"
    with pytest.raises(IngestError, match=expected):
        ingest_file(lakehouse.tables, path, "nested_keys", key="id")
    assert not lakehouse.tables.exists("nested_keys")


def test_an_upsert_onto_a_key_the_table_holds_twice_is_refused(lakehouse, tmp_path):
    ingest_file(lakehouse.tables, _file(tmp_path, "appended.csv", "id,v\n1,a\n1,b\n2,c\n"), "twice")
    before = table_state(lakehouse, "twice")
    path = _file(tmp_path, "one.csv", "id,v\n1,z\n")
    with pytest.raises(
        IngestError,
        match=rf"^{re.escape(str(path))}, column 'id': table 'lakehouse.twice' holds key 1 in 2 rows \(appended "
        r"without --key\), so an upsert on 'id' would replace them all with one; remove the repeats first",
    ):
        ingest_file(lakehouse.tables, path, "twice", key="id")
    assert table_state(lakehouse, "twice") == before

    done = ingest_file(lakehouse.tables, _file(tmp_path, "other.csv", "id,v\n2,y\n3,n\n"), "twice", key="id")
    assert (done.rows_updated, done.rows_inserted, done.rows_total) == (1, 1, 4)
    assert sorted(map(tuple, lakehouse.sql.query("SELECT id, v FROM twice").rows)) == [
        (1, "a"),
        (1, "b"),
        (2, "y"),
        (3, "n"),
    ]


def _file(folder, name: str, text: str):
    path = folder / name
    path.write_text(text)
    return path
