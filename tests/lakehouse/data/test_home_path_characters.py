"""A home whose path holds a space, a non-ASCII letter, '#', '?' or '%' kept its tables OUTSIDE the
home, in a sibling folder with a percent-encoded name (`a%20b/...`): a backup of the home missed
every table's data. With '?' the catalog was the file before it (`/data/q?1` and `/data/q?2` shared
`/data/q`), with '%41' it could not be opened. Everything now stays inside the home, and reads back."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse


@pytest.mark.parametrize("folder", ["a b/é ü", "hash#x", "q?x", "pct%41x", "at@u:p"])
def test_tables_and_catalog_stay_inside_a_home_of_any_name(tmp_path, folder):
    home = tmp_path / folder / "home"
    lh = Lakehouse(Settings(home=home))
    try:
        lh.tables.write_arrow("people", pa.table({"id": [1, 2], "city": ["Peoria", "Joliet"]}), mode="overwrite")
        assert lh.sql.query("SELECT count(*), max(city) FROM people").rows == [[2, "Peoria"]]
        report = lh.tables.gc(older_than_s=0, dry_run=True)
        assert report.removed == [] and report.kept_referenced > 0
    finally:
        lh.close()
    inside = home.resolve()
    for root, dirs, files in os.walk(tmp_path):  # every path made is the home, inside it, or a folder above it
        for path in (tmp_path / root / name for name in dirs + files):
            assert path.resolve().is_relative_to(inside) or inside.is_relative_to(path.resolve()), path
    assert (home / "catalog.db").is_file()
    assert any((home / "warehouse" / "lakehouse" / "people" / "data").iterdir())
