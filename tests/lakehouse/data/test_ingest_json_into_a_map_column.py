"""JSON ingest into a table with a map column, which other engines make (our ingest never does): the
table's types were handed to pyarrow's JSON reader, which cannot build a map, so every JSON file failed
with ArrowNotImplementedError (exit 2), even one without that column."""

from __future__ import annotations

import pytest
from pyiceberg.schema import Schema
from pyiceberg.types import DoubleType, LongType, MapType, NestedField, StringType, StructType

from lakehouse.data.errors import IngestError
from lakehouse.data.ingest import ingest_file


@pytest.fixture
def with_map(lakehouse):
    catalog = lakehouse.tables.catalog
    catalog.create_namespace_if_not_exists("lakehouse")
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "attrs", MapType(3, StringType(), 4, StringType(), value_required=False), required=False),
        NestedField(5, "pt", StructType(NestedField(6, "x", DoubleType(), required=False)), required=False),
    )
    catalog.create_table(("lakehouse", "things"), schema=schema)
    return lakehouse


def test_a_json_file_without_the_map_column_is_appended(with_map, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": 1, "pt": {"x": 1.5}}\n')

    assert ingest_file(with_map.tables, rows, "things").status == "appended"

    assert with_map.sql.query("SELECT id, attrs, pt FROM things").rows == [[1, None, {"x": 1.5}]]


def test_a_json_object_for_the_map_column_is_refused_by_column(with_map, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": 1, "attrs": {"k": "v"}}\n')

    with pytest.raises(IngestError, match=r"rows\.jsonl, column 'attrs': the table has type map<string, string>"):
        ingest_file(with_map.tables, rows, "things")
