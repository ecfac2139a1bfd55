"""A table another tool created in this home's catalog with a `location` outside the warehouse
(legal in Iceberg): writes are refused and gc keeps its files, as for a copied home, and both
now say it may be either; they said only "this home was copied or moved"."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField

from lakehouse.data.errors import TableInAnotherHome
from tests.fixtures.tables import table_state

HOUR = 3600


def test_a_write_to_a_table_placed_outside_the_warehouse_is_refused_naming_both_causes(lakehouse, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "ext"
    schema = Schema(NestedField(1, "id", LongType(), required=False))
    lakehouse.tables.write_arrow("ours", pa.table({"id": [1]}))  # the namespace, as any home has
    placed = lakehouse.tables.catalog.create_table(("lakehouse", "ext"), schema=schema, location=str(elsewhere))
    placed.append(pa.table({"id": [1, 2]}))
    before = table_state(lakehouse, "ext")
    files = sorted(p for p in elsewhere.rglob("*") if p.is_file())

    with pytest.raises(
        TableInAnotherHome,
        match=rf"lives in another warehouse \({re.escape(str(elsewhere))}\).*: this home was copied or moved "
        r"from there, or another tool placed the table there, and a write would land outside this home; "
        r"nothing was written",
    ):
        lakehouse.tables.write_arrow("ext", pa.table({"id": [3]}))
    assert table_state(lakehouse, "ext") == before

    report = lakehouse.tables.gc(older_than_s=HOUR)
    assert report.removed == []
    assert [e for e in report.errors if "or another tool placed the table there" in e], report.errors
    assert sorted(p for p in elsewhere.rglob("*") if p.is_file()) == files
    assert Path(elsewhere).is_dir()
