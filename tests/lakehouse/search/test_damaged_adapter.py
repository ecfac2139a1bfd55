"""A damaged adapter file of the live generation said "_vectors/health/adapter-...npz: unreadable adapter
(ValueError: ... allow_pickle=False)" (numpy's advice to load pickles), naming no corpus, generation
or fix. It names them, and the generations a promote can make live instead."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.search.errors import CorpusError
from tests.fixtures.vectors import HEALTH_MODEL, health_table


def test_a_damaged_adapter_names_the_corpus_generation_and_the_promote(tmp_path):
    settings = Settings(home=tmp_path / "home", embed_model=HEALTH_MODEL, hnsw_threads=1)
    lh = Lakehouse(settings)
    lh.tables.write_arrow("health", health_table().slice(0, 10), mode="overwrite")
    lh.corpora.build("health", "health", ["Title", "Description"], "O*NET-SOC Code")
    dims = lh.corpora.manifest("health").dims
    lh.corpora.promote("health", lh.corpora.stage("health", adapter=np.eye(dims, dtype=np.float32)))
    key = lh.corpora.manifest("health").adapter_key
    lh.close()
    [adapter] = (tmp_path / "home").rglob(key.rsplit("/", 1)[-1])
    adapter.write_bytes(b"\x80\x04not an adapter")  # a pickle's first bytes, as numpy reads them

    damaged = Lakehouse(settings)
    message = (
        rf"^corpus 'health' generation 2: its adapter {re.escape(key)}: unreadable adapter \(the file is damaged or "
        r"is no adapter\); `lakehouse corpus promote health GEN` makes a generation without it live "
        r"\(generations without it: \[1\]\)$"
    )
    with pytest.raises(CorpusError, match=message):
        damaged.matrix.search("nurse", ["health"], top_n=3)
    damaged.corpora.promote("health", 1)
    assert damaged.matrix.search("nurse", ["health"], top_n=3, relevance=False).hits
    damaged.close()
