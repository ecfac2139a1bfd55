"""SQL over a table whose object store stops answering (S3 down, a network cut) is the store's
failure (503, exit 2), not the caller's bad SQL: it was a 400 `sql_error` that a client would
not retry. The same query answers once the store is back."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.core import Lakehouse
from lakehouse.data.errors import SqlError, StorageError
from lakehouse.errors import ErrorKind
from tests.fixtures.tcp_proxy import TcpProxy


def test_sql_over_an_unreachable_store_is_unavailable_not_a_bad_query(moto_s3, tmp_path):
    proxy = TcpProxy(int(moto_s3.endpoint.rsplit(":", 1)[1])).start()
    settings = moto_s3.settings(tmp_path, warehouse_url=f"s3://{moto_s3.new_bucket()}/wh")
    lh = Lakehouse(settings.model_copy(update={"s3_endpoint": f"http://127.0.0.1:{proxy.port}"}))
    try:
        lh.tables.write_arrow("t", pa.table({"n": list(range(100))}))
        assert lh.sql.query("SELECT count(*) FROM t").rows == [[100]]
        proxy.cut()
        with pytest.raises(StorageError, match=r"a table's files could not be read, try again once") as caught:
            lh.sql.query("SELECT sum(n) FROM t")
        assert caught.value.kind is ErrorKind.UNAVAILABLE and not isinstance(caught.value, SqlError)
        assert "lakehouse/t/data/" in str(caught.value)  # which file it could not read
        proxy.start()
        assert lh.sql.query("SELECT sum(n) FROM t").rows == [[4950]]
    finally:
        lh.close()
        proxy.cut()


def test_a_data_file_gone_from_the_store_is_said_so_not_try_again(moto_s3, tmp_path):
    """The store answers that the file is not there: no retry brings it back (the probe: a 503
    'try again once the store answers' for a table whose data file was deleted)."""
    bucket = moto_s3.new_bucket()
    lh = Lakehouse(moto_s3.settings(tmp_path, warehouse_url=f"s3://{bucket}/wh"))
    try:
        lh.tables.write_arrow("t", pa.table({"n": [1, 2]}))
        client = moto_s3.client()
        for found in client.list_objects(bucket, prefix="wh/lakehouse/t/data/", recursive=True):
            client.remove_object(bucket, found.object_name)
        with pytest.raises(StorageError, match=r"a table's data file is missing from its store, it cannot") as caught:
            lh.sql.query("SELECT sum(n) FROM t")
        assert "try again" not in str(caught.value) and "lakehouse/t/data/" in str(caught.value)
    finally:
        lh.close()
