"""A table whose current metadata file is gone (removed by hand, a bad restore) is named as
unreadable with the file and the one before it; the other tables still list and answer. It was a
raw FileNotFoundError from every command, `lakehouse tables` included, naming no table."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pytest

from lakehouse.data.errors import TableUnreadable
from lakehouse.data.ingest import ingest_file
from tests.fixtures.cli import invoke_cli


def test_one_table_without_its_metadata_file_is_named_and_the_others_still_answer(lakehouse, tmp_path):
    lakehouse.tables.write_arrow("good", pa.table({"id": [1]}))
    lakehouse.tables.write_arrow("bad", pa.table({"id": [1]}))
    lakehouse.tables.write_arrow("bad", pa.table({"id": [2]}))
    current = lakehouse.tables.load("bad").metadata_location.removeprefix("file://")
    saved = tmp_path / "saved.metadata.json"
    shutil.move(current, saved)
    fresh = type(lakehouse.tables)(lakehouse.settings)  # nothing cached
    try:
        with pytest.raises(
            TableUnreadable,
            match=r"table .lakehouse.bad. cannot be read: its metadata file .*/bad/metadata/00001-.*\.metadata\.json "
            r"is "
            r"missing; the one before it is .*/00000-.*\.metadata\.json: a copy of it under the missing name restores",
        ):
            fresh.load("bad")
        source = tmp_path / "more.csv"
        source.write_text("id\n3\n")
        with pytest.raises(TableUnreadable, match=r"table 'lakehouse.bad' cannot be read"):
            ingest_file(fresh, source, "bad")
    finally:
        fresh.close()

    listed = invoke_cli("tables", "--json", code=1)
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["lakehouse.good"]["rows"] == 1 and "is missing" in rows["lakehouse.bad"]["error"]
    assert invoke_cli("sql", "SELECT count(*) FROM good", "--json").stdout.strip().endswith("[[1]]}")

    shutil.move(saved, current)  # the file back: the table reads again
    assert len(json.loads(invoke_cli("tables", "--json").stdout)) == 2


@pytest.mark.parametrize(
    "damage", [b"", b"{}", b'{"location": "file:///x", "tab'], ids=["empty", "not-metadata", "cut"]
)
def test_a_damaged_metadata_file_is_named_too(lakehouse, damage):
    """pyiceberg's own ValidationError escaped: every command, `tables` included, printed it raw."""
    lakehouse.tables.write_arrow("good", pa.table({"id": [1]}))
    lakehouse.tables.write_arrow("bad", pa.table({"id": [1]}))
    current = lakehouse.tables.load("bad").metadata_location.removeprefix("file://")
    with open(current, "wb") as fh:
        fh.write(damage)
    fresh = type(lakehouse.tables)(lakehouse.settings)
    try:
        with pytest.raises(
            TableUnreadable, match=rf"table 'lakehouse.bad' cannot be read: its metadata file {current} "
        ):
            fresh.load("bad")
    finally:
        fresh.close()
    rows = {r["name"]: r for r in json.loads(invoke_cli("tables", "--json", code=1).stdout)}
    assert rows["lakehouse.good"]["rows"] == 1 and "lakehouse.bad" in rows
