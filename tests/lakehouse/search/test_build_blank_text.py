"""A row whose text is only zero-width spaces or control characters was indexed (and answered
queries), while search and ratings take such text as blank: a build skips it as a row without text."""

from __future__ import annotations

import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.core import Lakehouse


def test_zero_width_only_text_is_skipped_as_blank(tmp_path):
    lh = Lakehouse(Settings(home=tmp_path / "home", embed_model="wordllama", hnsw_threads=1))
    texts = ["registered nurse", "\u200b", "\u200b\u200d \u2060", "\x07\x1b", "welder \u200b"]
    lh.tables.write_arrow("t", pa.table({"id": ["a", "zw", "zw2", "ctl", "b"], "text": texts}), mode="overwrite")
    result = lh.corpora.build("c", "t", ["text"], "id")
    assert (result.count, result.skipped_ids) == (2, ["zw", "zw2", "ctl"])
    assert sorted(lh.corpora.get("c").ids()) == ["a", "b"]
    lh.close()
