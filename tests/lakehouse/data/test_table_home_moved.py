"""A home moved to another path (mv, a restore elsewhere): its catalog names the old path, and
reading a table said only "its metadata file … is missing" (the file was there, in the new place)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.config import Settings, reset_settings
from lakehouse.core import Lakehouse
from lakehouse.data.errors import TableUnreadable


def test_reading_a_table_of_a_moved_home_says_the_home_moved_and_the_way_out(lakehouse, lh_home, tmp_path, monkeypatch):
    lakehouse.tables.write_arrow("t", pa.table({"id": [1, 2]}))
    lakehouse.close()
    moved = tmp_path / "moved"
    lh_home.rename(moved)
    monkeypatch.setenv("LH_HOME", str(moved))
    reset_settings()
    again = Lakehouse(Settings())
    try:
        with pytest.raises(
            TableUnreadable,
            match=rf"^table 'lakehouse\.t' cannot be read: its metadata file {lh_home}/warehouse/lakehouse/t/metadata/"
            rf"[^ ]+\.metadata\.json is missing, and so is its whole warehouse {lh_home}/warehouse: a home moved or "
            r"restored to another path still names the old one \(Iceberg records absolute paths\); put the home back "
            rf"at its old path, or link that path to it \(ln -s NEW_PATH {lh_home}\)$",
        ):
            again.tables.read_arrow("t")
        lh_home.symlink_to(moved)  # the way out the message gives
        assert again.tables.read_arrow("t").num_rows == 2
    finally:
        again.close()
