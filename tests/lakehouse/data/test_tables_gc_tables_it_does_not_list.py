"""gc and the tables another Iceberg tool keeps beside ours in the same catalog database and warehouse:
a table in a nested namespace (`team.eu.leads`) and one registered under pyiceberg's usual catalog
name (`default`). `Tables.list` shows neither, and gc, which took its references from that list,
removed every metadata and data file of both once they were older than its window."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

HOUR = 3600
SCHEMA = Schema(NestedField(1, "id", LongType(), required=False), NestedField(2, "v", StringType(), required=False))


def _table_with_rows(catalog, namespace: tuple[str, ...], name: str):
    catalog.create_namespace_if_not_exists(namespace)
    table = catalog.create_table((*namespace, name), schema=SCHEMA)
    table.append(pa.table({"id": [1, 2], "v": ["a", "b"]}, schema=table.schema().as_arrow()))
    return table


def _age_everything(root: Path) -> None:
    then = time.time() - 2 * HOUR
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def test_gc_keeps_the_files_of_tables_in_nested_namespaces_and_under_other_catalog_names(lakehouse, settings):
    lakehouse.tables.write_arrow("ours", pa.table({"id": [1]}))
    other_catalog = SqlCatalog("default", uri=settings.catalog, warehouse=settings.warehouse)
    nested = _table_with_rows(lakehouse.tables.catalog, ("team", "eu"), "leads")
    elsewhere = _table_with_rows(other_catalog, ("sales",), "orders")
    _age_everything(Path(settings.warehouse))

    report = lakehouse.tables.gc(older_than_s=HOUR)

    assert report.removed == [], [f.path for f in report.removed]
    assert report.errors == []
    assert lakehouse.tables.catalog.load_table(nested.name()).scan().to_arrow().num_rows == 2
    assert other_catalog.load_table(elsewhere.name()).scan().to_arrow().num_rows == 2
    other_catalog.engine.dispose()


def test_gc_still_removes_what_a_lost_write_left_beside_those_tables(lakehouse, settings):
    _table_with_rows(lakehouse.tables.catalog, ("team", "eu"), "leads")
    leftover = Path(settings.warehouse) / "team.eu" / "leads" / "data" / "00000-0-lost-write.parquet"
    leftover.write_bytes(b"PAR1")
    _age_everything(Path(settings.warehouse))

    report = lakehouse.tables.gc(older_than_s=HOUR)

    assert [f.path for f in report.removed] == [leftover.as_uri()]


def test_a_table_another_catalog_keeps_in_another_warehouse_is_no_error(lakehouse, settings, tmp_path):
    other_catalog = SqlCatalog("default", uri=settings.catalog, warehouse=str(tmp_path / "their-warehouse"))
    _table_with_rows(other_catalog, ("sales",), "orders")

    report = lakehouse.tables.gc(older_than_s=HOUR)

    assert report.errors == []
    assert report.removed == []
    other_catalog.engine.dispose()
