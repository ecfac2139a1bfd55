"""Ingest appends to tables other engines partition by bucket, day or month (Spark's usual layout);
every such write failed with pyiceberg's NotInstalledError before pyiceberg-core was a dependency."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import BucketTransform, DayTransform, MonthTransform
from pyiceberg.types import DateType, LongType, NestedField, StringType, TimestampType

from lakehouse.core import Lakehouse
from tests.fixtures.cli import invoke_cli

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=False),
    NestedField(2, "name", StringType(), required=False),
    NestedField(3, "seen", TimestampType(), required=False),
    NestedField(4, "day", DateType(), required=False),
)


@pytest.mark.parametrize(
    ("source_id", "transform"),
    [(1, BucketTransform(4)), (3, DayTransform()), (4, MonthTransform())],
    ids=["bucket", "day", "month"],
)
def test_ingest_appends_to_a_table_another_engine_partitioned(settings, tmp_path, source_id, transform):
    lh = Lakehouse(settings)
    spec = PartitionSpec(PartitionField(source_id=source_id, field_id=1000, transform=transform, name="part"))
    lh.tables.catalog.create_namespace_if_not_exists("lakehouse")
    table = lh.tables.catalog.create_table(("lakehouse", "visits"), schema=SCHEMA, partition_spec=spec)
    table.append(
        pa.table(
            {
                "id": pa.array([1], pa.int64()),
                "name": ["ada"],
                "seen": pa.array([pa.scalar(1_700_000_000_000_000, pa.timestamp("us"))]),
                "day": pa.array([19_000], pa.date32()),
            }
        )
    )
    lh.close()
    source = tmp_path / "visits.csv"
    source.write_text("id,name,seen,day\n2,bob,2026-12-01T10:00:00,2026-12-01\n3,cy,2026-11-02T09:00:00,2026-11-02\n")
    done = invoke_cli("ingest", str(source), "--table", "visits", "--json")
    assert json.loads(done.stdout)["rows_total"] == 3
    rows = json.loads(invoke_cli("sql", "SELECT id, name FROM visits ORDER BY id", "--json").stdout)["rows"]
    assert rows == [[1, "ada"], [2, "bob"], [3, "cy"]]
