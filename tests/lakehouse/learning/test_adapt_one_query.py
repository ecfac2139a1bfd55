"""`adapt` with every recorded match on one query said "holdout 0.2 leaves no query to train on
(1 distinct queries)", as if another holdout would do; it needs at least 2 distinct queries."""

from __future__ import annotations

import pytest

from lakehouse.learning.adapt import adapt_corpus
from lakehouse.learning.errors import AdaptError
from lakehouse.search.embed import get_embedder
from lakehouse.search.playbooks import PlaybookStore
from tests.fixtures.adapt import onet_lakehouse, titles


def test_matches_all_on_one_query_say_adapt_needs_two_distinct_queries(tmp_path):
    lh = onet_lakehouse(tmp_path / "home")
    store = PlaybookStore(tmp_path / "pb.jsonl", lambda: get_embedder(lh.settings.embed_model, lh.settings))
    codes = list(dict.fromkeys(r["expected"][0] for r in titles("titles_train", 80)))[:22]
    store.record_many([{"query": "registered nurse", "answer": c, "corpus": "onet", "score": 1.0} for c in codes])
    message = (
        r"corpus 'onet': its 22 recorded matches are all on one query \('registered nurse'\); adapt needs matches "
        r"on at least 2 distinct queries \(some train the adapter, others are held back to test it\): rate "
    )
    with pytest.raises(AdaptError, match=message):
        adapt_corpus(lh, "onet", playbooks=store)
    assert lh.corpora.manifest("onet").generation == 1  # nothing staged
    lh.close()
