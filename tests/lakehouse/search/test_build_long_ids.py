"""`corpus build` took ids longer than 1,024 characters, which `rate` refuses ("String should have at
most 1024 characters"): such rows could never be rated. A build (and an add of such a new row) is
refused, naming the table and row."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.search.errors import CorpusError


def test_an_id_longer_than_a_rating_takes_is_refused(tmp_path):
    lh = Lakehouse(Settings(home=tmp_path / "home", embed_model="wordllama", hnsw_threads=1))
    long_id = "x" * 1_025
    lh.tables.write_arrow("t", pa.table({"id": ["a", long_id], "text": ["nurse", "welder"]}), mode="overwrite")
    said = r"^table 't' row 2: id 'x{40}'\.\.\. is 1,025 characters; a corpus id is at most 1,024 \(ratings name"
    with pytest.raises(CorpusError, match=said):
        lh.corpora.build("c", "t", ["text"], "id")
    assert not lh.corpora.exists("c")
    lh.tables.write_arrow("t", pa.table({"id": ["a", "x" * 1_024], "text": ["nurse", "welder"]}), mode="overwrite")
    lh.corpora.build("c", "t", ["text"], "id")  # 1,024 is fine
    lh.tables.write_arrow("t", pa.table({"id": [long_id], "text": ["baker"]}), mode="append")
    with pytest.raises(CorpusError, match=r"^table 't': id 'x{40}'\.\.\. is 1,025 characters"):
        lh.corpora.add("c")
    lh.close()
