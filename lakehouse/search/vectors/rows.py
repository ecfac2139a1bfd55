"""The corpus table `corpus_<name>`: one row per indexed row (label, id, text, metadata, vector,
deleted) — enough to rebuild an index or train an adapter without embedding anything again.

A generation reads the table at its own `corpus_snapshot_id` (Iceberg time travel), so an old
generation still reads the rows it was built from after later adds.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lakehouse.search.vectors.manifest import Manifest, corpus_table_name

VECTOR_TYPE = pa.large_list(pa.field("element", pa.float32()))  # what Iceberg reads back
ROW_COLUMNS = ["label", "id", "text", "metadata", "deleted"]


def rows_table(labels, ids, texts, metadata, vectors: np.ndarray, deleted=None) -> pa.Table:
    n = len(ids)
    flat = pa.array(np.asarray(vectors, dtype=np.float32).reshape(-1), type=pa.float32())
    dims = vectors.shape[1] if n else 0
    offsets = pa.array(np.arange(0, (n + 1) * dims, dims, dtype=np.int64) if n else [0], type=pa.int64())
    return pa.table(
        {
            "label": pa.array(list(labels), type=pa.int64()),
            "id": pa.array(list(ids), type=pa.string()),
            "text": pa.array(list(texts), type=pa.string()),
            "metadata": pa.array(list(metadata), type=pa.string()),
            "vector": pa.LargeListArray.from_arrays(offsets, flat).cast(VECTOR_TYPE),
            "deleted": pa.array(list(deleted) if deleted is not None else [False] * n, type=pa.bool_()),
        }
    )


def vectors_of(table: pa.Table) -> np.ndarray:
    column = table.column("vector").combine_chunks()
    flat = np.asarray(column.flatten(), dtype=np.float32)
    return flat.reshape(table.num_rows, -1) if table.num_rows else flat.reshape(0, 0)


def read_rows(tables, manifest: Manifest, columns: list[str] | None = None) -> pa.Table:
    """The corpus table as the generation of `manifest` committed it."""
    return tables.read_arrow(manifest.corpus_table, columns=columns, snapshot_id=manifest.corpus_snapshot_id)


def write_rows(tables, manifest: Manifest | None, name: str, new_rows: pa.Table) -> int:
    """Append rows to the corpus table, repairing it first if a crashed write left rows the
    manifest never committed; returns the new snapshot id."""
    table = corpus_table_name(name)
    if manifest is None or not tables.exists(table):
        return tables.write_arrow(table, new_rows, mode="overwrite")
    if tables.current_snapshot_id(table) != manifest.corpus_snapshot_id:
        committed = read_rows(tables, manifest).select(new_rows.column_names)
        return tables.write_arrow(
            table, pa.concat_tables([committed, new_rows.cast(committed.schema)]), mode="overwrite"
        )
    return tables.write_arrow(table, new_rows, mode="append")
