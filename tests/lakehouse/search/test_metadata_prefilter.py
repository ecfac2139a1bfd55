"""A selective metadata filter is answered from the rows (`LoadedCorpus.prefilter`) and searched
exactly over the rows it admits: cutting the nearest candidates down to those that pass found 0.445
of the right hits at 500,000 rows (BENCHMARKS.md "Scale"). Real hnswlib, the real matrix searcher;
the query vector is given, so no embedding model is needed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.config import Settings
from lakehouse.search.filters import matches
from lakehouse.search.matrix import MatrixSearcher
from lakehouse.search.vectors import index as vector_index
from lakehouse.search.vectors.index import HnswParams, VectorIndex
from lakehouse.search.vectors.loaded import LoadedCorpus

DIMS = 32
PARAMS = HnswParams(m=16, ef_construction=100, ef=50, threads=1)
ROWS = 3_000
FAR = 40  # the IL rows: the ones farthest from the query


class _Corpora:
    def __init__(self, *corpora: LoadedCorpus) -> None:
        self.by_name = {c.name: c for c in corpora}

    def get(self, name: str) -> LoadedCorpus:
        return self.by_name[name]

    def candidates(self, name: str, where: str) -> set[str]:
        raise AssertionError("no SQL pre-filter in these tests")


def _corpus(vectors: np.ndarray, metadata: list[dict], name: str = "people") -> LoadedCorpus:
    index = VectorIndex(vectors.shape[1], PARAMS, capacity=len(vectors))
    index.add(vectors, range(len(vectors)))
    corpus = LoadedCorpus(name, index)
    corpus.remember(range(len(vectors)), [f"r{i}" for i in range(len(vectors))], ["text"] * len(vectors), metadata)
    return corpus


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((ROWS, DIMS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[0].copy()
    far = set(np.argsort(vectors @ query)[:FAR].tolist())
    metadata = [
        {"state": "IL" if i in far else "WI", "certs": ["OSHA-10"] if i % 2 else [], "floor": i % 7}
        for i in range(ROWS)
    ]
    return vectors, query, far, _corpus(vectors, metadata)


def _search(corpus: LoadedCorpus, query: np.ndarray, **options):
    s = Settings()
    searcher = MatrixSearcher(_Corpora(corpus), s, embedder_for=lambda model: None)
    return searcher.search("q", [corpus.name], query_vectors={s.embed_model: query[None]}, relevance=False, **options)


def test_a_selective_filter_finds_the_passing_rows_the_nearest_candidates_miss(world):
    vectors, query, far, corpus = world
    result = _search(corpus, query, top_n=10, filter={"state": "IL"})
    exact = sorted(far, key=lambda i: -float(vectors[i] @ query))[:10]
    assert [h.id for h in result.hits] == [f"r{i}" for i in exact]
    assert result.metadata_filter_dropped == ROWS - FAR and result.candidates == 10
    both = _search(corpus, query, top_n=100, filter={"state": "IL", "certs": "OSHA-10"})
    assert {h.id for h in both.hits} == {f"r{i}" for i in far if i % 2}  # keys AND, list values any


def test_a_broad_filter_still_filters_the_nearest_candidates(world):
    _, query, _, corpus = world
    upstairs = {"floor": [1, 2, 3, 4, 5, 6]}  # 6 rows in 7 pass: too many to search exactly
    assert corpus.prefilter(upstairs) is None
    result = _search(corpus, query, top_n=10, filter=upstairs)
    assert len(result.hits) == 10 and all(h.metadata["floor"] != 0 for h in result.hits)
    assert "r0" not in {h.id for h in result.hits}  # the query's own row is on floor 0
    # the nearest candidates were fetched, the ground-floor ones among them dropped
    assert result.candidates > 10 and 0 < result.metadata_filter_dropped <= result.candidates - 10


def test_prefilter_counts_rows_left_out_within_a_given_set(world):
    _, _, far, corpus = world
    within = {f"r{i}" for i in range(100)} | {f"r{i}" for i in far} | {"not-a-row"}
    ids, left_out = corpus.prefilter({"state": "IL"}, within)
    assert ids == {f"r{i}" for i in far} and left_out == len(within - {"not-a-row"}) - FAR
    assert corpus.prefilter({"state": "nowhere"}) == (set(), ROWS)
    assert corpus.prefilter({}) is None


def test_new_and_removed_rows_change_what_the_filter_admits():
    vectors = np.eye(8, dtype=np.float32)
    corpus = _corpus(vectors[:6], [{"state": "IL" if i < 2 else "WI"} for i in range(6)])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vector_index, "EXACT_MAX_SHARE", 1.0)
        assert corpus.prefilter({"state": "IL"}) == ({"r0", "r1"}, 4)
        corpus.index.add(vectors[6:], [6, 7])
        corpus.remember([6, 7], ["r6", "r7"], ["t", "t"], ['{"state": "IL"}', "{}"])
        assert corpus.prefilter({"state": "IL"}) == ({"r0", "r1", "r6"}, 5)
        corpus.forget(["r0"])
        assert corpus.prefilter({"state": "IL"}) == ({"r1", "r6"}, 5)


VALUES = st.one_of(
    st.sampled_from([0, 1, 3, 3.0, 2.5, True, False, "3", "3.0", "true", "True", "IL", "", None]),
    st.lists(st.sampled_from([1, 3, "3", "IL", True, "x"]), max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 2), max_size=2),
)
KEYS = st.sampled_from(["state", "floor", "union"])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.dictionaries(KEYS, VALUES, max_size=3), min_size=1, max_size=25),
    where=st.dictionaries(KEYS, VALUES, min_size=1, max_size=3),
)
def test_prefilter_admits_exactly_the_rows_the_filter_passes(rows, where):
    vectors = np.random.default_rng(0).standard_normal((len(rows), 4)).astype(np.float32)
    corpus = _corpus(vectors, rows)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vector_index, "EXACT_MAX_SHARE", 1.0)  # answer every filter from the rows
        found = corpus.prefilter(where)
    assert found is not None
    ids, left_out = found
    assert ids == {f"r{i}" for i, meta in enumerate(rows) if matches(meta, where)}
    assert left_out == len(rows) - len(ids)
