"""A SQLite catalog on a full disk: every OperationalError counted as a lost race, so a write
retried 8 times (14 s of back-off) and then said another writer had changed the table."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.errors import CatalogUnavailable
from tests.fixtures.small_disk import SmallDisk
from tests.fixtures.tables import table_state


def test_a_write_the_catalog_refuses_for_a_full_disk_is_named_not_retried_as_a_race(
    small_disk: SmallDisk,
    tmp_path,
):
    catalog = f"sqlite:///{small_disk.path / 'catalog.db'}"
    lakehouse = Lakehouse(Settings(home=tmp_path / "home", catalog_url=catalog, shared_state="off"))
    try:
        lakehouse.tables.write_arrow("t", pa.table({"id": [1]}))
        before = table_state(lakehouse, "t")
        small_disk.fill(0)

        with pytest.raises(
            CatalogUnavailable,
            match=rf"^the catalog database {catalog} refused the write \(database or "
            r"disk is full\): nothing was written; free space under it, or fix its path, then try again$",
        ):
            lakehouse.tables.write_arrow("t", pa.table({"id": [2]}))

        small_disk.empty()
        assert table_state(lakehouse, "t") == before
    finally:
        lakehouse.close()
