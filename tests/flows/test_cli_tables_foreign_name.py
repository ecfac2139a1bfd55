"""A table another tool named outside our pattern (`Sales-2026`, legal in Iceberg) is listed as
unreadable with why; the other tables are listed as before (the whole listing failed)."""

from __future__ import annotations

import json

import pyarrow as pa

from lakehouse.core import Lakehouse
from tests.fixtures.cli import invoke_cli


def test_one_foreign_table_name_does_not_hide_the_others(settings):
    lh = Lakehouse(settings)
    lh.tables.write_arrow("people", pa.table({"name": ["ada"]}))
    lh.tables.catalog.create_table(("lakehouse", "Sales-2026"), schema=pa.schema([("amount", pa.int64())]))
    lh.close()
    listed = invoke_cli("tables", "--json", code=1)
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["lakehouse.people"]["rows"] == 1
    assert rows["lakehouse.Sales-2026"]["error"].startswith("bad table name 'lakehouse.Sales-2026'")
    assert "(the tool that made it can rename it)" in rows["lakehouse.Sales-2026"]["error"]
    shown = invoke_cli("tables", code=1)
    assert "tables (2)" in shown.stdout and "unreadable" in shown.stdout
    assert "error: bad table name 'lakehouse.Sales-2026'" in shown.stderr
