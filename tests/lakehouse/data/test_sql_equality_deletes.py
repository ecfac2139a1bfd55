"""A table holding equality delete files, which Spark, Flink and Trino write in merge-on-read mode
(pyiceberg cannot write them: this test commits one as such an engine would). pyiceberg cannot apply
them either, and its bare ValueError came out of `lakehouse sql` and `ingest --key` with exit code 2."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat, ManifestContent, ManifestWriterV2
from pyiceberg.table.update import snapshot as snapshot_update
from pyiceberg.typedef import Record

from lakehouse.data.errors import EqualityDeletesUnsupported
from lakehouse.data.ingest import ingest_file


class _DeleteManifestWriter(ManifestWriterV2):
    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


def _commit_equality_delete(tbl, column: str, value: str, monkeypatch) -> None:
    """What another engine's merge-on-read DELETE ... WHERE column = value commits: one delete file."""
    path = f"{tbl.location()}/data/equality-delete.parquet"
    field_id = tbl.schema().find_field(column).field_id
    schema = pa.schema([pa.field(column, pa.string(), metadata={b"PARQUET:field_id": str(field_id).encode()})])
    pq.write_table(pa.table({column: [value]}, schema=schema), path)
    delete_file = DataFile.from_args(
        content=DataFileContent.EQUALITY_DELETES,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=Record(),
        record_count=1,
        file_size_in_bytes=tbl.io.new_input(path).__len__(),
        equality_ids=[field_id],
    )
    with monkeypatch.context() as patch:  # pyiceberg writes data manifests only
        patch.setattr(
            snapshot_update,
            "write_manifest",
            lambda **kw: _DeleteManifestWriter(
                kw["spec"], kw["schema"], kw["output_file"], kw["snapshot_id"], kw["avro_compression"]
            ),
        )
        with tbl.transaction() as tx, tx.update_snapshot().fast_append() as append:
            append.append_data_file(delete_file)


def test_a_table_with_equality_deletes_is_refused_by_name(lakehouse, tmp_path, monkeypatch):
    lakehouse.tables.write_arrow("cities", pa.table({"id": [1, 2], "state": ["CA", "IL"]}))
    _commit_equality_delete(lakehouse.tables.load("cities"), "state", "CA", monkeypatch)
    refused = r"table 'lakehouse.cities' at snapshot \d+ has 1 row\(s\) deleted by equality delete files"

    with pytest.raises(EqualityDeletesUnsupported, match=refused):
        lakehouse.sql.query("SELECT count(*) FROM cities")
    change = tmp_path / "change.csv"
    change.write_text("id,state\n2,WA\n")
    with pytest.raises(EqualityDeletesUnsupported, match=refused):
        ingest_file(lakehouse.tables, change, "cities", key="id")


def test_read_arrow_refuses_such_a_table_by_name_too(lakehouse, monkeypatch):
    """What `corpus build` / `corpus add` read a table through: pyiceberg's bare ValueError before."""
    lakehouse.tables.write_arrow("cities", pa.table({"id": [1, 2], "state": ["CA", "IL"]}))
    _commit_equality_delete(lakehouse.tables.load("cities"), "state", "CA", monkeypatch)
    with pytest.raises(EqualityDeletesUnsupported, match=r"table 'lakehouse.cities' at snapshot \d+ has 1 row"):
        lakehouse.tables.read_arrow("cities", columns=["state"])
