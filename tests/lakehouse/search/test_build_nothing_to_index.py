"""A build where every row lacks text made an empty corpus with exit 0 ("created: +0 rows, 0
searchable, 2 rows without text skipped"): it is refused, and nothing is written."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.search.errors import CorpusError


def test_a_build_whose_rows_all_lack_text_is_refused(tmp_path):
    lh = Lakehouse(Settings(home=tmp_path / "home", embed_model="wordllama", hnsw_threads=1))
    table = pa.table({"id": ["a", "b"], "t1": ["nurse", "welder"], "t2": pa.array([None, " "], pa.string())})
    lh.tables.write_arrow("t", table, mode="overwrite")
    message = r"^none of the 2 rows of table 't' has text in --text t2 \(ids \['a', 'b'\]\): nothing to index; nothing"
    with pytest.raises(CorpusError, match=message):
        lh.corpora.build("c", "t", ["t2"], "id")
    assert not lh.corpora.exists("c") and not lh.tables.exists("corpus_c")
    lh.tables.write_arrow("empty", table.slice(0, 0), mode="overwrite")
    assert lh.corpora.build("e", "empty", ["t1"], "id").count == 0  # an empty table still makes an empty corpus
    lh.close()
