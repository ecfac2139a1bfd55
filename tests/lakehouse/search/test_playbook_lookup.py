"""Playbook lookups order only the neighbours a search takes (`most_similar_first`) and bring the
entries up to date once per batch of queries (`lookup_many`): the same matches as sorting every
entry for every query, which was most of a search's playbook time with 50,000 recorded entries."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lakehouse.search.playbooks import most_similar_first
from tests.lakehouse.search.test_playbooks import OCC, searcher  # noqa: F401  (the fixture)

# few distinct values, so ties are common
SIMS = arrays(np.float32, st.integers(0, 60), elements=st.sampled_from([-0.5, 0.0, 0.25, 0.3, 0.5, 0.75, 1.0]))


@given(sims=SIMS, floor=st.sampled_from([-1.0, 0.0, 0.3, 0.6, 1.0]), batch=st.integers(1, 70), take=st.integers(0, 70))
def test_the_order_is_a_stable_sort_of_the_entries_above_the_floor(sims, floor, batch, take):
    everything = [int(p) for p in np.argsort(-sims, kind="stable") if sims[p] >= floor]
    taken = []
    for position in most_similar_first(sims, floor, batch):
        if len(taken) == take:
            break
        taken.append(position)
    assert taken == everything[:take]
    assert list(most_similar_first(sims, floor, batch)) == everything


def test_a_block_of_queries_finds_what_each_query_finds_alone(searcher):  # noqa: F811
    store = searcher.playbooks
    recorded = [
        ("forklift driver", "53-7051.00"),
        ("forklift operator", "53-7051.00"),
        ("ICU nurse", "29-1141.03"),
        ("line cook", "35-2014.00"),
        ("short order cook", "35-2014.00"),
        ("welder", "51-4121.00"),
    ]
    for query, answer in recorded:
        store.record(query, answer, OCC[0], 1.0)
    queries = ["fork lift truck driver", "critical care nurse", "cook", "pipe welder", "astronaut"]
    vectors = store.embedder.embed(queries)
    for limit in (None, 1, 2, 20):
        together = store.lookup_many(vectors, OCC, limit=limit)
        alone = [store.lookup(vector, OCC, limit=limit) for vector in vectors]
        assert [[(m.playbook.id, m.similarity) for m in found] for found in together] == [
            [(m.playbook.id, m.similarity) for m in found] for found in alone
        ]
    nearest = store.lookup_many(vectors[:1], OCC, limit=2)[0]
    assert [m.playbook.query for m in nearest] == ["forklift driver", "forklift operator"]
    assert store.lookup_many(vectors, ["other"], limit=3) == [[] for _ in queries]  # another corpus's entries
