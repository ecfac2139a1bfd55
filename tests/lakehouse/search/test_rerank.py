"""The reranker value type (`lakehouse.search.rerank`): its n-gram similarity is scikit-learn's
TF-IDF, it survives the adapter's bytes, bad arrays are refused by name, and a search through a
corpus that has one reorders that corpus's hits by trading their scores."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from lakehouse.config import Settings
from lakehouse.search.adapter import Adapter, AdapterError
from lakehouse.search.matrix import MatrixSearcher
from lakehouse.search.rerank import FEATURES, Candidate, Lexicon, Reranker
from lakehouse.search.vectors.index import HnswParams, VectorIndex
from lakehouse.search.vectors.loaded import LoadedCorpus

words = st.text(alphabet="abcdeéfgh -", min_size=1, max_size=30)
WIDTH = len(FEATURES)
FIRST_LINE = FEATURES.index("char n-gram similarity to the first line")


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(words, min_size=1, max_size=6), query=words)
def test_the_similarity_is_scikit_learns_char_ngram_tfidf_cosine(texts, query):
    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    try:
        reference.fit(texts)
    except ValueError:  # texts with no n-gram at all: nothing to compare
        return
    lexicon = Lexicon.fit(texts)
    expected = (reference.transform([query]) @ reference.transform(texts).T).toarray().reshape(-1)
    assert np.allclose(lexicon.similarities(query, texts), expected)
    again = Lexicon(lexicon.vocabulary, lexicon.idf)  # as loaded from an adapter's bytes
    assert np.allclose(again.similarities(query, texts), expected)


def _reranker(hidden: int = 3, seed: int = 0, **options) -> Reranker:
    rng = np.random.default_rng(seed)
    lexicon = Lexicon.fit(["Welders\nJoin metal parts.", "Cooks\nPrepare food.", "Nurses\nCare for patients."])
    layers = [(rng.normal(size=(WIDTH, hidden)), rng.normal(size=hidden)), (rng.normal(size=(hidden, 1)), np.zeros(1))]
    return Reranker(lexicon, rng.normal(size=WIDTH), rng.uniform(0.5, 2, WIDTH), layers, **options)


@settings(max_examples=25, deadline=None)
@given(
    hidden=st.integers(1, 8),
    seed=st.integers(0, 2**16),
    recorded=st.dictionaries(st.text(min_size=1, max_size=6), st.integers(1, 50), max_size=4),
)
def test_a_reranker_round_trips_through_the_adapter_bytes(hidden, seed, recorded):
    reranker = _reranker(hidden, seed, recorded=recorded)
    adapter = Adapter(np.eye(2, dtype=np.float32), meta={"rerank": {"kept": True}}, reranker=reranker)
    restored = Adapter.from_bytes(adapter.to_bytes())
    back = restored.reranker
    assert back is not None and back.recorded == recorded and back.top == reranker.top
    assert restored.meta["rerank"] == {"kept": True}  # what the reranker's training said, kept once
    features = np.random.default_rng(seed).normal(size=(7, WIDTH))
    assert np.allclose(back.logits(features), reranker.logits(features))
    assert back.lexicon.vocabulary == reranker.lexicon.vocabulary
    assert Adapter.from_bytes(Adapter(np.eye(2, dtype=np.float32)).to_bytes()).reranker is None


def test_arrays_that_do_not_fit_are_refused_by_name():
    good = _reranker()
    lexicon, layers = good.lexicon, good.layers
    with pytest.raises(AdapterError, match="positive scales"):
        Reranker(lexicon, good.mean, np.zeros(WIDTH), layers)
    with pytest.raises(AdapterError, match=r"a layer of shape \(4, 1\) .* does not chain"):
        Reranker(lexicon, good.mean, good.scale, [layers[0], (np.ones((4, 1)), np.zeros(1))])
    with pytest.raises(AdapterError, match="must end in one output"):
        Reranker(lexicon, good.mean, good.scale, layers[:1])
    with pytest.raises(AdapterError, match="3 n-grams need as many finite IDF values"):
        Lexicon(["ab", "bc", "cd"], np.array([1.0, np.inf, 2.0]))


def test_an_adapter_blob_with_a_broken_reranker_is_refused():
    arrays = _reranker().arrays()
    arrays.pop("rerank_b1")
    buffer = io.BytesIO()
    base = Adapter(np.eye(2, dtype=np.float32))
    np.savez(buffer, W=base.W, ids=np.zeros((0,), "<U1"), vectors=base.vectors, meta=np.array("{}"), **arrays)
    with pytest.raises(AdapterError, match="unreadable adapter"):
        Adapter.from_bytes(buffer.getvalue())


def _candidates(memory: float = 0.0) -> list[Candidate]:
    return [
        Candidate("cooks", "Cooks\nPrepare food.", 0.9, 0.9, 0.0, memory),
        Candidate("welders", "Welders\nJoin metal parts.", 0.8, 0.8, 0.0, 0.0),
    ]


def _title_ranker() -> Reranker:
    """Ranks by the query's n-gram similarity to the first line alone."""
    weights = np.zeros((WIDTH, 1))
    weights[FIRST_LINE, 0] = 1.0
    lexicon = Lexicon.fit(["Welders\nJoin metal parts.", "Cooks\nPrepare food.", "Nurses\nCare for patients."])
    return Reranker(lexicon, np.zeros(WIDTH), np.ones(WIDTH), [(weights, np.zeros(1))])


def test_a_remembered_query_and_a_lone_candidate_are_left_as_they_are():
    ranker, vectors = _title_ranker(), lambda ids: np.ones((len(ids), 3), np.float32)
    order, logits = ranker.order("welder", np.ones(3), _candidates(), vectors)
    assert order == [1, 0] and logits[1] > logits[0]
    assert ranker.order("welder", np.ones(3), _candidates(memory=0.5), vectors) is None
    assert ranker.order("welder", np.ones(3), _candidates(memory=-0.5), vectors) is None  # rated wrong verbatim
    assert ranker.order("welder", np.ones(3), _candidates()[:1], vectors) is None


class _Source:
    def __init__(self, corpus: LoadedCorpus) -> None:
        self.corpus = corpus

    def get(self, name: str) -> LoadedCorpus:
        return self.corpus

    def candidates(self, name: str, where: str) -> set[str]:
        raise AssertionError("no SQL filter in this test")


def _jobs(tmp_path) -> tuple[MatrixSearcher, dict[str, np.ndarray]]:
    """A three-row corpus with the title reranker, and a query whose nearest rows are cooks, then
    welders (cosine 0.8); nurses is at cosine 0."""
    rows = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]], np.float32)
    index = VectorIndex(3, HnswParams(m=8, ef_construction=50, ef=10, threads=1))
    index.add(rows, [0, 1, 2])
    texts = ["Cooks\nPrepare food.", "Welders\nJoin metal parts.", "Nurses\nCare for patients."]
    corpus = LoadedCorpus("jobs", index, adapter=Adapter(np.eye(3, dtype=np.float32), reranker=_title_ranker()))
    corpus.remember([0, 1, 2], ["cooks", "welders", "nurses"], texts, [{}, {}, {}])
    s = Settings(home=tmp_path)
    return MatrixSearcher(_Source(corpus), s, lambda model: None), {
        s.embed_model: np.array([[1.0, 0.0, 0.0]], np.float32)
    }


def test_a_search_reorders_the_corpus_hits_by_trading_their_scores(tmp_path):
    searcher, query = _jobs(tmp_path)
    plain = searcher.search_many(
        ["cook"], ["jobs"], top_n=3, relevance=False, use_playbooks=False, query_vectors=query
    )[0]
    result = searcher.search_many(
        ["welder"], ["jobs"], top_n=3, relevance=False, use_playbooks=False, query_vectors=query, explain=True
    )[0]
    assert [h.id for h in plain.hits] == ["cooks", "welders", "nurses"]
    assert [h.id for h in result.hits][:2] == ["welders", "cooks"]
    assert [h.score for h in result.hits] == [h.score for h in plain.hits]  # scores traded, not made up
    assert result.hits[0].raw_score == pytest.approx(0.8) and result.hits[0].why["rerank"]["from_rank"] == 2
    assert result.hits[1].why["rerank"] == {"from_rank": 1, "to_rank": 2, "logit": pytest.approx(0.0, abs=0.2)}


def test_the_relevance_filter_keeps_a_hit_the_reranker_lifted_into_a_near_place(tmp_path):
    searcher, query = _jobs(tmp_path)
    plain = searcher.search_many(["cook"], ["jobs"], top_n=3, relevance=True, use_playbooks=False, query_vectors=query)
    lifted = searcher.search_many(
        ["nurse"], ["jobs"], top_n=3, relevance=True, use_playbooks=False, query_vectors=query
    )[0]
    assert [h.id for h in plain[0].hits] == ["cooks", "welders"] and plain[0].relevance_dropped == 1
    # the reranker put nurses first: it takes the nearest place, and the filter keeps that place
    assert lifted.hits[0].id == "nurses" and lifted.hits[0].raw_score == pytest.approx(0.0, abs=1e-6)
    assert {h.id for h in lifted.hits} == {"cooks", "welders", "nurses"} and lifted.relevance_dropped == 0
