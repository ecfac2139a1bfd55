"""A table whose current snapshot lists a file that is gone (`lakehouse gc --force` while a write ran,
or a hand) says so, naming the table, the snapshot, the file and the snapshot before it, which still
reads: it was a raw FileNotFoundError (exit 2) on every read and every later write."""

from __future__ import annotations

import os
import re

import pytest

from lakehouse.data.errors import SnapshotFilesMissing
from lakehouse.data.ingest import ingest_file


def test_a_missing_manifest_list_names_the_snapshot_before(lakehouse, tmp_path):
    first, second, third = (tmp_path / f"{n}.csv" for n in ("one", "two", "three"))
    first.write_text("a,b\n1,x\n")
    second.write_text("a,b\n2,y\n")
    third.write_text("a,b\n3,z\n")
    before = ingest_file(lakehouse.tables, first, "g").snapshot_id
    current = ingest_file(lakehouse.tables, second, "g").snapshot_id
    manifest_list = lakehouse.tables.load("g").current_snapshot().manifest_list
    os.remove(manifest_list.removeprefix("file://"))
    expected = (
        rf"^table 'lakehouse.g' cannot be read at snapshot {current}: a file it lists is missing from its store "
        rf"\({re.escape(manifest_list.removeprefix('file://'))}\), "
        r"removed by `lakehouse gc` while a write ran \(with --force, or another engine's write that took "
        r"longer than gc's age window\), or by hand; "
        rf"`lakehouse sql --snapshot {before}` reads the snapshot before it$"
    )
    with pytest.raises(SnapshotFilesMissing, match=expected):
        lakehouse.sql.query("SELECT count(*) FROM g")
    assert lakehouse.sql.query("SELECT count(*) FROM g", snapshot=before).rows == [[1]]
    with pytest.raises(SnapshotFilesMissing, match=re.escape(f"cannot be read at snapshot {current}")):
        ingest_file(lakehouse.tables, third, "g")
