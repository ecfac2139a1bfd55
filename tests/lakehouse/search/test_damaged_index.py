"""A corpus whose index file is cut or damaged says so, naming the corpus, the file and the fix: it was
hnswlib's "Index seems to be corrupted or unsupported" (an internal error over HTTP) naming nothing.
`lakehouse corpus rebuild` then builds it again from the stored vectors."""

from __future__ import annotations

import re

import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.search.errors import CorpusError
from tests.fixtures.vectors import HEALTH_MODEL, health_table


def test_a_cut_index_names_the_corpus_and_the_rebuild(tmp_path):
    settings = Settings(home=tmp_path / "home", embed_model=HEALTH_MODEL, hnsw_threads=1)
    built = Lakehouse(settings)
    built.tables.write_arrow("health", health_table().slice(0, 20), mode="overwrite")
    built.corpora.build("health", "health", ["Title", "Description"], "O*NET-SOC Code")
    expected = built.matrix.search("nurse", ["health"], top_n=3)
    key = built.corpora.manifest("health").index_key
    built.close()
    [index] = (tmp_path / "home").rglob(key.rsplit("/", 1)[-1])
    with open(index, "r+b") as fh:
        fh.truncate(100)

    damaged = Lakehouse(settings)  # a process that has not loaded the index yet
    message = (
        rf"^corpus 'health': its index {re.escape(key)} cannot be read \(.+\); "
        r"`lakehouse corpus rebuild health` builds it again from the stored vectors$"
    )
    with pytest.raises(CorpusError, match=message):
        damaged.matrix.search("nurse", ["health"], top_n=3)
    damaged.corpora.rebuild("health")
    assert [h.id for h in damaged.matrix.search("nurse", ["health"], top_n=3).hits] == [h.id for h in expected.hits]
    damaged.close()
