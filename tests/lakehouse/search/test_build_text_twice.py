"""`--text t1,t1` was accepted: each row's text held the column twice. It is refused."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.search.errors import CorpusError


def test_a_text_column_named_twice_is_refused(tmp_path):
    lh = Lakehouse(Settings(home=tmp_path / "home", embed_model="wordllama", hnsw_threads=1))
    lh.tables.write_arrow("t", pa.table({"id": ["a"], "t1": ["nurse"], "t2": ["ward"]}), mode="overwrite")
    with pytest.raises(CorpusError, match=r"^--text names column\(s\) \['t1'\] more than once"):
        lh.corpora.build("c", "t", ["t1", "t2", "t1"], "id")
    assert not lh.corpora.exists("c")
    lh.close()
