"""`lakehouse.learning.rerank_training`, through `adapt.learn` on real job titles: the reranker is
cross-fitted through the real search, kept only when the folds say it helps, stored with the
adapter, and a staged generation searches exactly as the view it was measured on."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lakehouse.learning.adapt import corpus_rows, learn, recorded_pairs
from lakehouse.learning.adapter_training import ADAPTED_VOTE_WEIGHT
from lakehouse.learning.rerank_training import FOLDS, MIN_QUERIES
from lakehouse.learning.views import PinnedCorpora, adapted_view
from lakehouse.search.embed import get_embedder
from lakehouse.search.matrix import MatrixSearcher
from lakehouse.search.playbooks import PlaybookStore
from lakehouse.search.rerank import FEATURES, TOP
from tests.fixtures.adapt import entries, onet_lakehouse, titles


@pytest.fixture(scope="module")
def lh(tmp_path_factory):
    lakehouse = onet_lakehouse(tmp_path_factory.mktemp("rerank-home"))
    yield lakehouse
    lakehouse.close()


def _recorded(lh, path, rows):
    s = lh.settings
    store = PlaybookStore(path, lambda: get_embedder(s.embed_model, s))
    store.record_many(entries(rows))
    loaded = lh.corpora.get("onet")
    return store, loaded, recorded_pairs(lh, "onet", loaded, store.entries(), loaded.manifest.model)


def _search(lh, corpus, store, queries):
    s = lh.settings
    searcher = MatrixSearcher(PinnedCorpora(lh.corpora, {"onet": corpus}), s, lambda m: get_embedder(m, s), store)
    return searcher.search_many(queries, ["onet"], top_k=10, top_n=10, relevance=False, explain=True)


def test_the_reranker_learns_from_real_titles_and_a_staged_generation_searches_as_measured(lh, tmp_path):
    store, loaded, pairs = _recorded(lh, tmp_path / "playbooks.jsonl", titles("titles_train", 600))
    adapter = learn(lh, "onet", loaded, pairs, store.entries(), epochs=30)
    meta = adapter.meta["rerank"]
    assert meta["folds"] == FOLDS and meta["features"] == list(FEATURES) and meta["ngrams"] > 1000
    assert 0 < meta["queries"] <= len(pairs) and meta["rows"] <= meta["queries"] * TOP
    before, after = meta["check"]["recall_at_1_before"], meta["check"]["recall_at_1_after"]
    assert meta["kept"] == (after > before) == (adapter.reranker is not None)
    # wordllama vectors on 600 real titles: the title's n-grams tell occupations apart better than
    # the vectors' ranks alone (measured by the folds, seeded)
    assert meta["kept"] and after > before

    queries = [row["query"] for row in titles("titles_test", 60)]
    view = adapted_view(loaded, adapter)
    measured = _search(lh, view, store, queries)
    moved = [h for r in measured for h in r.hits if "rerank" in (h.why or {})]
    assert moved and all(h.why["rerank"]["to_rank"] <= TOP for h in moved)
    assert any(h.why["rerank"]["from_rank"] != h.why["rerank"]["to_rank"] for h in moved)

    generation = lh.corpora.stage("onet", adapter=adapter, adapter_meta=dict(adapter.meta), reason="adapt")
    lh.corpora.promote("onet", generation)
    live = lh.corpora.get("onet")
    assert live.generation == generation and live.adapter.reranker is not None
    listed = {g["generation"]: g for g in lh.corpora.generations("onet")}[generation]
    assert listed["adapter"]["kind"] == "query-map+prototypes+reranker"  # what `corpus generations` lists
    again = _search(lh, live, store, queries)
    assert [[h.id for h in r.hits] for r in again] == [[h.id for h in r.hits] for r in measured]
    # the stored generation's rows went through the index once more than the view's: a last-bit
    # difference may round a 6-decimal score the other way
    flat = [h.score for r in again for h in r.hits]
    assert flat == pytest.approx([h.score for r in measured for h in r.hits], abs=2e-6)


def test_too_few_recorded_queries_train_no_reranker(lh, tmp_path):
    store, loaded, pairs = _recorded(lh, tmp_path / "few.jsonl", titles("titles_train", MIN_QUERIES - 1))
    adapter = learn(lh, "onet", loaded, pairs, store.entries(), epochs=10)
    assert adapter.reranker is None
    assert adapter.meta["rerank"] == {"kept": False, "why": f"fewer than {MIN_QUERIES} recorded queries"}


def test_the_kept_reranker_is_the_mean_of_its_seeded_members():
    """`MEMBERS` MLPs side by side are stored as one wider MLP: its logits are the members' mean."""
    import numpy as np

    from lakehouse.learning.rerank_training import _mlp
    from lakehouse.search.rerank import Lexicon, Reranker

    rng = np.random.default_rng(0)
    groups = []
    for _ in range(40):
        X = rng.normal(size=(TOP, len(FEATURES)))
        groups.append((X, np.arange(TOP) == int(np.argmax(X[:, 6] + 0.1 * rng.normal(size=TOP)))))
    lexicon = Lexicon(["ab"], np.ones(1))
    wide = Reranker(lexicon, *_mlp(groups, seed=3, members=3))
    members = [Reranker(lexicon, *_mlp(groups, seed=3 + i)) for i in range(3)]
    probe = rng.normal(size=(7, len(FEATURES)))
    assert wide.layers[0][0].shape == (len(FEATURES), 3 * members[0].layers[0][0].shape[1])
    assert np.allclose(wide.logits(probe), np.mean([m.logits(probe) for m in members], axis=0), atol=1e-5)


def test_a_query_with_several_right_rows_is_answered_by_any_of_them():
    """The loss is -log of the softmax mass on the right rows (padding left out); with one right row
    it is the usual cross-entropy, so one rating per query trains as before."""
    import torch

    from lakehouse.learning.rerank_training import listwise_loss

    logits = torch.tensor([[2.0, 1.0, 0.5, 7.0], [0.0, 3.0, -1.0, 9.0]])
    present = torch.tensor([[True, True, True, False], [True, True, True, False]])  # the 4th: padding
    right = torch.tensor([[True, False, True, False], [False, True, False, False]])
    p0 = torch.softmax(logits[0, :3], 0)
    expected = (-torch.log(p0[0] + p0[2]) + torch.nn.functional.cross_entropy(logits[1:, :3], torch.tensor([1]))) / 2
    assert torch.allclose(listwise_loss(logits, present, right), expected)


def test_a_long_history_trains_each_folds_adapter_on_a_capped_sample(lh, tmp_path, monkeypatch):
    """`MAX_FOLD_PAIRS` bounds what each fold's adapter trains on (a long history's fold adapters
    were most of the reranker's cost); the folds still search every held query."""
    import lakehouse.learning.rerank_training as training

    monkeypatch.setattr(training, "MAX_FOLD_PAIRS", 120)
    store, loaded, pairs = _recorded(lh, tmp_path / "capped.jsonl", titles("titles_train", MIN_QUERIES + 40))
    adapter = learn(lh, "onet", loaded, pairs, store.entries(), epochs=10)
    meta = adapter.meta["rerank"]
    assert meta["fold_pairs"] == [120] * FOLDS
    assert meta["queries"] > 0.9 * (MIN_QUERIES + 40)  # every fold's queries searched, whatever the cap


def test_the_folds_search_voting_at_the_weight_the_reranker_will_serve_with(lh, tmp_path, monkeypatch):
    """The playbook vote weight moves ranks and gaps, which the reranker reads: its training searches
    vote at the weight its generation serves with (`Recorded.vote_weight`: the short-history weight
    unless the gate chose another)."""
    import lakehouse.learning.rerank_training as training

    store, loaded, pairs = _recorded(lh, tmp_path / "weights.jsonl", titles("titles_train", MIN_QUERIES))
    ids, vectors = corpus_rows(lh, loaded)
    voted = []

    def view(corpus, adapter):
        voted.append(adapter.meta["vote_weight"])
        return adapted_view(corpus, adapter)

    monkeypatch.setattr(training, "adapted_view", view)
    recorded = training.Recorded(lh, "onet", loaded, pairs, store.entries(), ids, vectors, epochs=5)
    assert training.training_rows(recorded) is not None and voted == [ADAPTED_VOTE_WEIGHT] * FOLDS
    voted.clear()
    assert training.training_rows(replace(recorded, vote_weight=2.5)) is not None and voted == [2.5] * FOLDS
