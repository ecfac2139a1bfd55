"""A Parquet file is decoded under a memory budget (ingest_parquet_max_decoded_bytes): a 130 KB
upload whose dictionary expanded ~10,000x took the API to 1.5 GB. Past the budget the file is
refused naming its decoded size, the limit and the setting; under it, it reads as before."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.ingest import IngestError, ingest_file

_LIMIT = "4MiB"


@pytest.fixture
def lh(tmp_path):
    """A lakehouse of its own settings: the budget is the one its tables were opened with."""
    lakehouse = Lakehouse(Settings(home=tmp_path / "home", ingest_parquet_max_decoded_bytes=_LIMIT))
    yield lakehouse
    lakehouse.close()


def _refused(lh, path, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        ingest_file(lh.tables, path, "bomb")
    assert not lh.tables.exists("bomb")


def test_a_dictionary_that_expands_past_the_budget_is_refused_before_it_is_decoded(lh, tmp_path):
    path = tmp_path / "bomb.parquet"
    indices = pa.array(np.zeros(200_000, dtype=np.int32))  # 20 MB of text once decoded, 5 MB a row group
    column = pa.DictionaryArray.from_arrays(indices, pa.array(["x" * 100]))
    pq.write_table(pa.table({"s": column}), path, compression="zstd", row_group_size=50_000)
    assert path.stat().st_size < 20_000
    _refused(
        lh,
        path,
        r"bomb.parquet: the file decodes to 5.0 MiB in memory at least \(its first 1 of 4 row groups\), more than "
        r"the 4.0 MiB an ingest may decode \(setting ingest_parquet_max_decoded_bytes, "
        r"LH_INGEST_PARQUET_MAX_DECODED_BYTES\): split the file or raise the setting",
    )


def test_text_in_lists_and_objects_counts_as_decoded(lh, tmp_path):
    path = tmp_path / "nested.parquet"
    lists = pa.array([["y" * 100] * 10] * 10_000)  # one dictionary value, 10 MB decoded
    pq.write_table(pa.table({"l": lists}), path, compression="zstd")
    _refused(lh, path, r"nested.parquet: the file decodes to 10.0 MiB in memory at least \(its first 1 of 1 row")


def test_values_past_the_budget_by_the_footer_are_refused_unread(lh, tmp_path):
    path = tmp_path / "zeros.parquet"
    pq.write_table(pa.table({"n": np.zeros(1_000_000, dtype=np.int64)}), path, compression="zstd")
    _refused(lh, path, r"zeros.parquet: the file decodes to 7.6 MiB in memory at least \(by its footer\), more than")


def test_files_under_the_budget_read_as_before(lh, tmp_path):
    path = tmp_path / "kinds.parquet"
    source = pa.table(
        {
            "s": pa.array(["a", None, "bb"] * 1000),
            "d": pa.DictionaryArray.from_arrays(pa.array([0, 1, 0] * 1000, pa.int32()), pa.array(["x", "y"])),
            "b": pa.array([b"\x00\x01", None, b""] * 1000),
            "l": pa.array([["p", "q"], None, []] * 1000),
            "st": pa.array([{"f": "u", "g": 1}, None, {"f": None, "g": 2}] * 1000),
            "m": pa.array([[("k", "v")], None, []] * 1000, pa.map_(pa.string(), pa.string())),
            "n": pa.array(range(3000)),
        }
    )
    pq.write_table(source, path, row_group_size=700)
    ingest_file(lh.tables, path, "kinds")
    rows = lh.tables.read_arrow("kinds").sort_by("n")
    assert rows.column("s").to_pylist() == source.column("s").to_pylist()
    assert rows.column("d").to_pylist() == source.column("d").to_pylist()
    assert rows.column("b").to_pylist() == source.column("b").to_pylist()
    assert rows.column("l").to_pylist() == source.column("l").to_pylist()
    assert rows.column("st").to_pylist() == source.column("st").to_pylist()
    assert rows.column("m").to_pylist() == source.column("m").to_pylist()
