"""A first corpus build whose index could not be stored (the object store's disk full) left its
corpus table committed: a table no corpus names, which `corpus drop` could not remove ('not found')."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.errors import StorageWriteFailed
from tests.fixtures.small_disk import SmallDisk


def test_a_first_build_that_cannot_store_its_index_leaves_no_corpus_table(small_disk: SmallDisk, tmp_path):
    objects = (small_disk.path / "objects").as_uri()
    lh = Lakehouse(Settings(home=tmp_path / "home", objects_url=objects, embed_model="wordllama", hnsw_threads=1))
    try:
        texts = [f"occupation number {i}" for i in range(200)]
        lh.tables.write_arrow("t", pa.table({"id": [str(i) for i in range(200)], "text": texts}))
        before = sorted(lh.tables.list())
        small_disk.fill(0)

        with pytest.raises(StorageWriteFailed, match=r"^no space left on device while writing object '_vectors/c/"):
            lh.corpora.build("c", "t", ["text"], "id")

        assert sorted(lh.tables.list()) == before
        assert not lh.corpora.exists("c")
        small_disk.empty()
        assert lh.corpora.build("c", "t", ["text"], "id").count == 200  # the name builds afresh
    finally:
        lh.close()
