"""The gate's held-back share stays held back as ratings are added: a query the live adapter was
trained on is never the one it is gated on next week (a seeded shuffle of all queries moved 94 of
180 held-back queries into the earlier train share, and every later adapter was refused against
the live one's inflated recall)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.common.text import fold
from lakehouse.learning.adapt import _Pair, _split

WHEN = datetime(2026, 12, 1, tzinfo=UTC)
titles = st.lists(st.text(min_size=1, max_size=30), min_size=20, max_size=80, unique_by=fold)  # adapt needs 20


def pairs(queries: list[str]) -> list[_Pair]:
    return [_Pair(q, f"id-{i % 7}", np.zeros(2, np.float32), WHEN) for i, q in enumerate(queries)]


@settings(max_examples=200, deadline=None)
@given(last_week=titles, added=titles, holdout=st.sampled_from([0.1, 0.2, 0.3]))
def test_nothing_trained_on_last_week_is_held_back_this_week(last_week, added, holdout):
    trained = {fold(p.query) for p in _split(pairs(last_week), holdout, seed=0)[0]}
    queries = last_week + [q for q in added if fold(q) not in {fold(x) for x in last_week}]
    _, held = _split(pairs(queries), holdout, seed=0)
    assert trained.isdisjoint(fold(p.query) for p in held)


def test_the_share_held_back_is_the_holdout():
    queries = [f"title {n}" for n in range(2000)]
    train, held = _split(pairs(queries), 0.2, seed=0)
    assert 360 <= len(held) <= 440 and len(train) + len(held) == 2000
    assert {p.query for p in _split(pairs(queries), 0.2, seed=0)[1]} == {p.query for p in held}  # the same split
    assert {p.query for p in _split(pairs(queries), 0.2, seed=1)[1]} != {p.query for p in held}  # seeded
