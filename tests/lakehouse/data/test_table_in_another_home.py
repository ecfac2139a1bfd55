"""A write in a home copied elsewhere (cp -a of a backup, a home moved while the old path still
exists): the catalog's absolute paths sent its files and new metadata into the original home, whose
catalog does not name them (its gc removed them after an hour, and the copy's table then pointed at
deleted files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse.config import Settings, reset_settings
from lakehouse.core import Lakehouse
from lakehouse.data.errors import TableInAnotherHome
from tests.fixtures.tables import table_state


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_a_write_to_a_table_whose_files_lie_in_the_original_home_is_refused_by_name(
    lakehouse, lh_home, tmp_path, monkeypatch
):
    lakehouse.tables.write_arrow("t", pa.table({"id": [1, 2]}))
    copy = tmp_path / "restored"
    shutil.copytree(lh_home, copy)
    original = _files(lh_home / "warehouse")
    monkeypatch.setenv("LH_HOME", str(copy))
    reset_settings()
    restored = Lakehouse(Settings())
    try:
        before = table_state(restored, "t")

        with pytest.raises(
            TableInAnotherHome,
            match=rf"^table 'lakehouse\.t' lives in another warehouse \({lh_home}/warehouse/lakehouse/t\), not this "
            rf"home's \({copy}/warehouse\): this home was copied or moved from there, or another tool placed the "
            r"table there, and a write would land outside this home; nothing was written\. A copied or moved home: "
            r"put it back at its old path \(or link the old path to it\); either way, ingest the data into this "
            r"home under a new table name$",
        ):
            restored.tables.write_arrow("t", pa.table({"id": [3]}))

        assert _files(lh_home / "warehouse") == original
        assert table_state(restored, "t") == before
        restored.tables.write_arrow("fresh", pa.table({"id": [3]}))  # a new table lands in this home
        assert (copy / "warehouse" / "lakehouse" / "fresh").is_dir()
    finally:
        restored.close()
