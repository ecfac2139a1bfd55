"""An ingest that runs out of disk: pyarrow's torn data file (which the write never learned the
name of) held the last free bytes, so the disk stayed full and the next write to any table failed
too; the message was pyarrow's "Error writing bytes to file", naming neither table nor place."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lakehouse.config import Settings, reset_settings
from lakehouse.core import Lakehouse
from lakehouse.data.errors import StorageWriteFailed
from lakehouse.data.ingest import ingest_file
from tests.fixtures.small_disk import SmallDisk
from tests.fixtures.tables import table_state

LEFT = 1024 * 1024  # free bytes: less than the file's Parquet, more than a small write needs


@pytest.fixture
def full_home(small_disk: SmallDisk, monkeypatch) -> Iterator[tuple[Lakehouse, SmallDisk]]:
    monkeypatch.setenv("LH_HOME", str(small_disk.path / "home"))
    reset_settings()
    lakehouse = Lakehouse(Settings())
    try:
        yield lakehouse, small_disk
    finally:
        lakehouse.close()
        reset_settings()


def test_an_ingest_out_of_space_leaves_no_torn_file_and_names_the_table_and_place(full_home, tmp_path):
    lakehouse, disk = full_home
    small = tmp_path / "small.csv"
    small.write_text("id,name\n1,a\n")
    ingest_file(lakehouse.tables, small, "kept")
    before = table_state(lakehouse, "kept")
    big = tmp_path / "big.csv"
    with big.open("w") as out:  # random-looking text: Parquet cannot squeeze it under LEFT
        out.write("id,name\n")
        out.writelines(
            f"{i},{i * 7919 % 1000003:x}-{i * 104729 % 999983:x}-{i * 15485863 % 1000033:x}\n" for i in range(200_000)
        )
    disk.fill(LEFT)
    free = disk.free()

    with pytest.raises(
        StorageWriteFailed,
        match=r"^no space left on device while writing table 'lakehouse\.big' under "
        rf"{disk.path}/home/warehouse/lakehouse/big: nothing was written; free space there, then try again$",
    ):
        ingest_file(lakehouse.tables, big, "big")

    assert disk.free() >= free  # the torn data file is gone
    assert not list((disk.path / "home" / "warehouse" / "lakehouse" / "big").rglob("*.parquet"))
    assert not lakehouse.tables.exists("big")
    assert table_state(lakehouse, "kept") == before
    ingest_file(lakehouse.tables, small, "other")  # the space a small write needs is still there
    assert lakehouse.tables.describe("other")["rows"] == 1
