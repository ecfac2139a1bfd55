"""SQL over Parquet files brought into a table by pyiceberg's `add_files` (or Spark's add_files and
migrate): such files carry no Iceberg field ids, the table's name mapping says which column is which,
and DuckDB's reader, which maps columns by field id, read every value as NULL."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType


def test_files_added_without_field_ids_read_through_the_name_mapping(lakehouse, settings):
    catalog = lakehouse.tables.catalog
    catalog.create_namespace_if_not_exists("lakehouse")
    schema = Schema(
        NestedField(1, "id", LongType(), required=False), NestedField(2, "city", StringType(), required=False)
    )
    table = catalog.create_table(("lakehouse", "imported"), schema=schema)
    data = Path(settings.warehouse) / "lakehouse" / "imported" / "data"
    data.mkdir(parents=True)
    plain = str(data / "plain.parquet")
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int64()), "city": ["Austin", "Boston"]}), plain)
    table.add_files([plain])

    result = lakehouse.sql.query("SELECT id, city FROM imported ORDER BY id")

    assert result.rows == [[1, "Austin"], [2, "Boston"]]
