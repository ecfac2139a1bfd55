"""An S3 warehouse whose bucket does not exist: the first table write failed with pyarrow's raw
`OSError` ("AWS Error NO_SUCH_BUCKET during CreateMultipartUpload"), an internal error to every
surface. The warehouse's bucket now goes as the objects store's: a machine with its own SQLite
catalog makes it on first use; machines that share a catalog server are refused by name, nothing
written (a typo there would put one machine's tables where no other machine looks)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.core import Lakehouse
from lakehouse.data.errors import StorageError


def test_one_machine_with_its_own_catalog_gets_its_warehouse_bucket_made(moto_s3, tmp_path):
    warehouse = moto_s3.new_bucket_url("warehouse")
    lh = Lakehouse(moto_s3.settings(tmp_path, warehouse_url=warehouse))
    try:
        lh.tables.write_arrow("t", pa.table({"n": [1, 2]}))
        assert lh.tables.read_arrow("t").column("n").to_pylist() == [1, 2]
        assert lh.tables.describe("t")["location"].startswith(warehouse)
    finally:
        lh.close()


def test_machines_sharing_a_catalog_server_are_refused_a_missing_warehouse_bucket(moto_s3, postgres, tmp_path):
    warehouse = moto_s3.new_bucket_url("warehouse")
    bucket = warehouse.removeprefix("s3://").split("/")[0]
    catalog = postgres.url(postgres.create_database())
    objects = f"s3://{moto_s3.new_bucket()}"
    lh = Lakehouse(moto_s3.settings(tmp_path, objects_url=objects, catalog_url=catalog, warehouse_url=warehouse))
    try:
        with pytest.raises(StorageError, match=rf"bucket '{bucket}' of {warehouse} does not exist at .*typo"):
            lh.tables.write_arrow("t", pa.table({"n": [1]}))
        assert not moto_s3.client().bucket_exists(bucket)
        moto_s3.client().make_bucket(bucket)  # the operator makes it: the same lakehouse writes now
        lh.tables.write_arrow("t", pa.table({"n": [1]}))
        assert lh.tables.list() == ["lakehouse.t"]
    finally:
        lh.close()
