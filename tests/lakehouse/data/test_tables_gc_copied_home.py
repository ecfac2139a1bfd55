"""gc in a home copied elsewhere (a backup restored with cp -a, rsync -a or tar): its catalog still
names the original home's files, so gc found nothing under its own warehouse referenced and removed
every table file of the copy (their copied mtimes made them all "old")."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pyarrow as pa

from lakehouse.config import Settings, reset_settings
from lakehouse.core import Lakehouse

HOUR = 3600


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_gc_in_a_copied_home_keeps_the_files_of_tables_whose_metadata_lies_in_the_original(
    lakehouse, lh_home, tmp_path, monkeypatch
):
    lakehouse.tables.write_arrow("t", pa.table({"id": [1, 2], "v": ["a", "b"]}))
    original_warehouse = lh_home / "warehouse"
    then = time.time() - 2 * HOUR
    for path in _files(lh_home):
        os.utime(path, (then, then))
    copy = tmp_path / "restored"
    shutil.copytree(lh_home, copy)  # copies mtimes too, as cp -a does
    monkeypatch.setenv("LH_HOME", str(copy))
    reset_settings()
    restored = Lakehouse(Settings())
    try:
        before = _files(copy / "warehouse")
        assert before

        report = restored.tables.gc(older_than_s=HOUR)

        assert report.removed == []
        assert _files(copy / "warehouse") == before
        assert len(report.errors) == 1
        assert report.errors[0].startswith(
            f"lakehouse.t: its metadata is {original_warehouse}/lakehouse/t/metadata/"  # the warehouse is a plain path
        )
        assert report.errors[0].endswith(
            f"outside this warehouse {copy / 'warehouse'}: this home was copied or moved from the one "
            f"whose warehouse is {original_warehouse} (Iceberg records absolute paths), or another tool placed "
            "the table there; every file of the table here was kept"
        )
    finally:
        restored.close()
