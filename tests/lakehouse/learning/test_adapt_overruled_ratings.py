"""Recorded matches all rated good and then wrong: `adapt` said "has 1 recorded match; adapt needs at
least 20" with no word that 25 pairs were left out because their newest rating is bad."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lakehouse.learning.adapt import adapt_corpus
from lakehouse.learning.errors import AdaptError
from lakehouse.search.embed import get_embedder
from lakehouse.search.playbooks import PlaybookStore
from tests.fixtures.adapt import entries, onet_lakehouse, titles


def test_adapt_counts_the_matches_a_newer_bad_rating_overruled(tmp_path):
    lh = onet_lakehouse(tmp_path / "home")
    store = PlaybookStore(tmp_path / "pb.jsonl", lambda: get_embedder(lh.settings.embed_model, lh.settings))
    rows = entries(titles("titles_train", 26))
    good, bad = datetime(2026, 11, 1, tzinfo=UTC).isoformat(), datetime(2026, 12, 1, tzinfo=UTC).isoformat()
    store.record_many([{**e, "ts": good} for e in rows])
    store.record_many([{**e, "score": -1.0, "ts": bad} for e in rows[1:]])
    message = (
        r"^corpus 'onet' has 1 recorded match \(25 more were rated good, then not: their newest rating is bad\); "
        r"adapt needs at least 20"
    )
    with pytest.raises(AdaptError, match=message):
        adapt_corpus(lh, "onet", playbooks=store)
    lh.close()
