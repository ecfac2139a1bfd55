"""Ingest into a table another tool made with a required (NOT NULL) column, as Spark and pyiceberg
do: every ingest failed with pyiceberg's raw ValueError "Mismatch in fields" (exit 2), the rows fit or
not, because the incoming columns were all nullable."""

from __future__ import annotations

import pytest
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from lakehouse.data.errors import IngestError
from lakehouse.data.ingest import ingest_file


@pytest.fixture
def required_id(lakehouse):
    catalog = lakehouse.tables.catalog
    catalog.create_namespace_if_not_exists("lakehouse")
    schema = Schema(
        NestedField(1, "id", LongType(), required=True), NestedField(2, "city", StringType(), required=False)
    )
    catalog.create_table(("lakehouse", "places"), schema=schema)
    return lakehouse


def test_rows_holding_every_required_value_are_appended_and_upserted(required_id, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("id,city\n1,Austin\n2,Boston\n")
    change = tmp_path / "change.csv"
    change.write_text("id,city\n2,Chicago\n")

    assert ingest_file(required_id.tables, first, "places").status == "appended"
    assert ingest_file(required_id.tables, change, "places", key="id").status == "upserted"

    assert required_id.sql.query("SELECT id, city FROM places ORDER BY id").rows == [[1, "Austin"], [2, "Chicago"]]


def test_a_row_without_a_required_value_is_refused_by_column_and_nothing_is_written(required_id, tmp_path):
    gap = tmp_path / "gap.csv"
    gap.write_text("id,city\n1,Austin\n,Boston\n")

    with pytest.raises(
        IngestError, match=r"gap\.csv, column 'id': required by the table, but 1 of the 2 row\(s\) have no value"
    ):
        ingest_file(required_id.tables, gap, "places")

    assert required_id.tables.load("places").current_snapshot() is None
