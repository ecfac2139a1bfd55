"""SQL over a table read through a pyarrow dataset (a nested column here; on S3, every table) whose
column name pyiceberg rewrites in its files (`O*NET` is stored as `O_x2ANET`), after another engine
appended a file keeping the name as it is (Spark does, with the field id beside it): the dataset
matched columns by pyiceberg's rewritten name, so that engine's rows read NULL."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.io.pyarrow import parquet_file_to_data_file


def _field_id(field_id: int) -> dict[bytes, bytes]:
    return {b"PARQUET:field_id": str(field_id).encode()}


def test_rows_another_engine_wrote_under_the_plain_column_name_keep_their_values(lakehouse):
    lakehouse.tables.write_arrow("onet", pa.table({"id": [1], "O*NET": ["15-1252.00"], "tags": [["a"]]}))
    tbl = lakehouse.tables.load("onet")
    ids = {f.name: f.field_id for f in tbl.schema().fields}
    element = tbl.schema().find_field("tags").field_type.element_id
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), metadata=_field_id(ids["id"])),
            pa.field("O*NET", pa.string(), metadata=_field_id(ids["O*NET"])),
            pa.field(
                "tags",
                pa.list_(pa.field("element", pa.string(), metadata=_field_id(element))),
                metadata=_field_id(ids["tags"]),
            ),
        ]
    )
    path = f"{tbl.location()}/data/other-engine-part-0.parquet"
    pq.write_table(pa.table({"id": [2], "O*NET": ["11-1011.00"], "tags": [["b"]]}, schema=schema), path)
    with tbl.transaction() as tx, tx.update_snapshot().fast_append() as append:
        append.append_data_file(parquet_file_to_data_file(tbl.io, tbl.metadata, path))

    result = lakehouse.sql.query('SELECT id, "O*NET" FROM onet ORDER BY id')

    assert result.rows == [[1, "15-1252.00"], [2, "11-1011.00"]]
