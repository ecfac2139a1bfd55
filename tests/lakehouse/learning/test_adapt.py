"""`lakehouse.learning.adapt`: the adapter learns from recorded matches on real job titles, and
the gate refuses one trained on wrong answers (nothing is promoted)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lakehouse.learning.adapt import (
    ADAPTED_VOTE_WEIGHT,
    VOTE_WEIGHTS,
    PinnedCorpora,
    adapt_corpus,
    adapted_view,
    corpus_rows,
    gate,
    keep_reranker,
    recall,
    recorded_pairs,
    train,
)
from lakehouse.learning.errors import AdaptError
from lakehouse.search.adapter import Adapter
from lakehouse.search.embed import get_embedder
from lakehouse.search.errors import CorpusNotFound
from lakehouse.search.matrix import MatrixSearcher
from lakehouse.search.playbooks import PlaybookStore
from tests.fixtures.adapt import entries, onet_lakehouse, titles


@pytest.fixture(scope="module")
def lh(tmp_path_factory):
    lakehouse = onet_lakehouse(tmp_path_factory.mktemp("adapt-home"))
    yield lakehouse
    lakehouse.close()


def _store(lh, path) -> PlaybookStore:
    s = lh.settings
    return PlaybookStore(path, lambda: get_embedder(s.embed_model, s))


def _recall(lh, view, rows):
    s = lh.settings
    embedder = get_embedder(s.embed_model, s)
    searcher = MatrixSearcher(PinnedCorpora(lh.corpora, {"onet": view}), s, lambda m: get_embedder(m, s))
    queries = [r["query"] for r in rows]
    return recall(searcher, "onet", queries, embedder.embed(queries), s.embed_model, [set(r["expected"]) for r in rows])


def test_adapter_improves_recall_on_real_titles_never_trained_on(lh):
    train_rows, test_rows = titles("titles_train", 500), titles("titles_test")
    loaded = lh.corpora.get("onet")
    ids, vectors = corpus_rows(lh, loaded)
    embedder = get_embedder(lh.settings.embed_model, lh.settings)
    adapter = train(
        embedder.embed([r["query"] for r in train_rows]),
        [r["expected"][0] for r in train_rows],
        ids,
        vectors,
        epochs=30,
    )
    assert adapter.meta["pairs"] == 500 and adapter.meta["cpu_s"] > 0 and adapter.meta["peak_rss_mb"] > 0
    assert len(adapter.ids) == adapter.meta["adapted_rows"] == len({r["expected"][0] for r in train_rows})
    cold_1, cold_10, _ = _recall(lh, loaded, test_rows)
    adapted_1, adapted_10, _ = _recall(lh, adapted_view(loaded, adapter), test_rows)
    assert adapted_1 > cold_1 and adapted_10 > cold_10
    assert lh.corpora.get("onet").generation == loaded.generation  # a view: nothing was committed


def test_the_gate_refuses_an_adapter_trained_on_wrong_answers(lh, tmp_path):
    store = _store(lh, tmp_path / "shuffled.jsonl")
    store.record_many(entries(titles("titles_train", 300), shuffled=True))
    live = lh.corpora.manifest("onet").generation
    report = adapt_corpus(lh, "onet", playbooks=store, epochs=30)
    assert not report.passed and not report.promoted
    assert report.pairs == 300 and report.train_pairs + report.holdout_pairs == 300
    # Refused by the recall rule, or (the best of the vote weights tried edging ahead by a query or
    # two) by the chance rule: a gain that small is what shuffled answers give.
    assert report.decision.startswith("refused: ") and "staged, not live" in report.decision
    assert any(not rule.passed for rule in report.rules[:1] + report.rules[2:])
    assert set(report.train["vote_weights_tried"]) == {str(w) for w in VOTE_WEIGHTS}
    assert report.train["vote_weight"] in VOTE_WEIGHTS
    assert lh.corpora.manifest("onet").generation == live == report.live_after == report.live_before
    staged = {g["generation"]: g for g in lh.corpora.generations("onet")}[report.generation]
    assert not staged["live"] and staged["reason"] == "adapt"
    assert staged["adapter"]["gate"]["passed"] is False
    assert staged["adapter"]["trained_until"] == report.trained_until
    held = {a.op: a for a in lh.corpora.activity}  # the last of each: this adapt's
    assert held["write"].started_ns <= held["stage"].started_ns  # stage (and a promote) under one hold
    assert held["stage"].ended_ns <= held["write"].ended_ns


def test_the_same_matches_recorded_at_another_time_train_in_the_same_order(lh, tmp_path):
    """A batch shares one ts and each entry's id hashes it: ties go by content, so a lift or an
    adapt of the same matches trains on the same sequence (bit-identical float sums)."""
    rows = entries(titles("titles_train", 60))
    loaded = lh.corpora.get("onet")
    orders = []
    for name, when in (("early", datetime(2026, 1, 1, tzinfo=UTC)), ("late", datetime(2026, 1, 2, 3, tzinfo=UTC))):
        store = _store(lh, tmp_path / f"{name}.jsonl")
        store.record_many([{**e, "ts": when.isoformat()} for e in rows])
        pairs = recorded_pairs(lh, "onet", loaded, store.entries(), lh.settings.embed_model)
        orders.append([(p.query, p.answer) for p in pairs])
    assert len(orders[0]) == 60 and orders[0] == orders[1]


def test_a_match_rated_wrong_after_it_was_rated_good_is_not_trained_on(lh, tmp_path):
    """The later bad rating retracts the match: adapt learned the query as a positive for the
    answer a person marked wrong (and held it back as an expected answer), whichever came last."""
    rows = entries(titles("titles_train", 30))
    store = _store(lh, tmp_path / "retracted.jsonl")
    good, bad = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    store.record_many([{**e, "ts": good.isoformat()} for e in rows])
    store.record_many([{**e, "score": -1.0, "ts": bad.isoformat()} for e in rows[:20]])
    store.record_many([{**e, "ts": bad.isoformat()} for e in rows[20:22]])  # rated good again: stays
    store.record_many([{**e, "score": -1.0, "ts": good.isoformat()} for e in rows[28:]])  # same time: the later
    pairs = recorded_pairs(lh, "onet", lh.corpora.get("onet"), store.entries(), lh.settings.embed_model)
    assert sorted(p.query for p in pairs) == sorted(e["query"] for e in rows[20:28])
    said = r"corpus 'onet' has 8 recorded matches \(22 more were rated good, then not: their newest rating is bad\)"
    with pytest.raises(AdaptError, match=said):
        adapt_corpus(lh, "onet", playbooks=store)


def test_an_adapter_that_went_live_while_another_trained_is_not_replaced_by_it(tmp_path):
    """Two adapts at once (or a promote or rollback during one): the later one went live over the
    earlier one's adapter without being gated against it, and named the wrong live generation."""
    own = onet_lakehouse(tmp_path / "home")
    try:
        store = _store(own, tmp_path / "pb.jsonl")
        # a share of the titles and fewer epochs: the point is the race, any passing adapter will do
        store.record_many(entries(titles("titles_train", 500)))
        other = adapt_corpus(own, "onet", playbooks=store, rerank=False, promote=False, epochs=30)
        assert other.passed and other.generation == 2 and own.corpora.manifest("onet").generation == 1

        def other_goes_live_meanwhile(stage: str, done: int, total: int) -> None:
            if stage == "gate: current state" and done == 0:  # another adapt finishing, say
                own.corpora.promote("onet", 2)

        report = adapt_corpus(own, "onet", playbooks=store, rerank=False, epochs=30, progress=other_goes_live_meanwhile)
        assert report.passed and not report.promoted, report.decision
        assert (report.generation, report.live_before, report.live_after) == (3, 2, 2)
        assert "passed the gate against generation 1, but generation 2 went live while this adapt trained" in (
            report.decision
        )
        assert own.corpora.manifest("onet").generation == 2  # the other stands
    finally:
        own.close()


def test_too_few_recorded_matches_is_a_clear_error(lh, tmp_path):
    store = _store(lh, tmp_path / "few.jsonl")
    rows = titles("titles_train", 6)
    store.record_many(entries(rows) + [{**e, "score": -1.0} for e in entries(titles("titles_test", 30))])
    store.record_many(entries(rows))  # the same matches again count once
    with pytest.raises(AdaptError, match="corpus 'onet' has 6 recorded matches; adapt needs at least 20: rate matches"):
        adapt_corpus(lh, "onet", playbooks=store)


def test_matches_whose_answer_the_corpus_no_longer_holds_are_counted_as_left_out(lh, tmp_path):
    store = _store(lh, tmp_path / "gone.jsonl")  # no answer check: as if the rows were deleted since
    rows = titles("titles_train", 30)
    store.record_many(entries(rows[:10]) + [{**e, "answer": "99-9999.99"} for e in entries(rows[10:])])
    with pytest.raises(
        AdaptError, match=r"corpus 'onet' has 10 recorded matches \(20 more name rows the corpus no longer holds\); "
    ):
        adapt_corpus(lh, "onet", playbooks=store)


def test_unknown_corpus_and_bad_holdout(lh, tmp_path):
    with pytest.raises(CorpusNotFound, match="nope"):
        adapt_corpus(lh, "nope", playbooks=_store(lh, tmp_path / "pb.jsonl"))
    with pytest.raises(AdaptError, match="holdout must be a share between 0 and 1"):
        adapt_corpus(lh, "onet", holdout=1.5, playbooks=_store(lh, tmp_path / "pb.jsonl"))


def test_a_large_corpus_trains_over_a_candidate_set(lh, monkeypatch):
    import lakehouse.learning.adapter_training as adapt_module

    # the threshold lowered so the 1,016-row corpus counts as large: the softmax runs over the
    # answers plus each query's nearest rows, not over every row
    monkeypatch.setattr(adapt_module, "FULL_SOFTMAX_ROWS", 500)
    monkeypatch.setattr(adapt_module, "CANDIDATES_PER_QUERY", 20)
    rows = titles("titles_train", 100)
    ids, vectors = corpus_rows(lh, lh.corpora.get("onet"))
    embedder = get_embedder(lh.settings.embed_model, lh.settings)
    adapter = train(
        embedder.embed([r["query"] for r in rows]), [r["expected"][0] for r in rows], ids, vectors, epochs=5
    )
    assert adapter.meta["softmax"] == "candidates" and adapter.meta["softmax_rows"] < len(ids)
    assert set(adapter.ids) == {r["expected"][0] for r in rows}
    with pytest.raises(AdaptError, match="answers not in the corpus: 99-9999.99"):
        train(embedder.embed(["x"]), ["99-9999.99"], ids, vectors, epochs=1)


def test_training_goes_on_from_a_live_adapter_and_keeps_what_it_learned(lh):
    import numpy as np

    rows = titles("titles_train", 600)
    first, second = rows[:300], rows[300:]
    ids, vectors = corpus_rows(lh, lh.corpora.get("onet"))
    embed = get_embedder(lh.settings.embed_model, lh.settings).embed
    start = train(embed([r["query"] for r in first]), [r["expected"][0] for r in first], ids, vectors, epochs=20)
    start.meta["vote_weight"] = 1.5  # as if the gate had chosen it
    queries, answers = embed([r["query"] for r in second]), [r["expected"][0] for r in second]

    # no epochs: exactly the start (its W, its moved rows), whatever the new pairs
    same = train(queries, answers, ids, vectors, epochs=0, start=start)
    assert np.allclose(same.W, start.W) and set(same.ids) >= set(start.ids)
    for row_id in start.ids:
        assert np.allclose(same.vectors[same.ids.index(row_id)], start.vectors[start.ids.index(row_id)], atol=1e-6)

    went_on = train(queries, answers, ids, vectors, epochs=20, start=start)
    assert set(went_on.ids) == set(start.ids) | set(answers)
    assert went_on.meta["start_pairs"] == 300 and went_on.meta["vote_weight"] == ADAPTED_VOTE_WEIGHT
    untouched = [row_id for row_id in start.ids if row_id not in set(answers)]
    assert untouched, "the two halves should not share every answer"
    for row_id in untouched:  # rows only the start had moved keep its vectors
        assert np.allclose(went_on.vectors[went_on.ids.index(row_id)], start.vectors[start.ids.index(row_id)])
    assert not np.allclose(went_on.W, start.W)
    with pytest.raises(AdaptError, match="starting adapter is 3-dim"):
        train(queries, answers, ids, vectors, epochs=1, start=type(start)(np.eye(3)))


@pytest.mark.parametrize(("said", "expected"), [("3", 3), ("", None), ("0", None), ("many", None)])
def test_training_threads_follow_omp_num_threads_when_it_names_a_count(monkeypatch, said, expected):
    import os

    from lakehouse.learning.adapter_training import MAX_THREADS, training_threads

    monkeypatch.setenv("OMP_NUM_THREADS", said)
    assert training_threads() == (expected or max(1, min(MAX_THREADS, os.cpu_count() or 1)))


def _reranked_adapter():
    import numpy as np

    from lakehouse.search.rerank import FEATURES, Lexicon, Reranker

    width, rng = len(FEATURES), np.random.default_rng(0)
    layers = [(rng.normal(size=(width, 2)), np.zeros(2)), (rng.normal(size=(2, 1)), np.zeros(1))]
    reranker = Reranker(Lexicon.fit(["Welders", "Cooks"]), np.zeros(width), np.ones(width), layers)
    meta = {"kind": "query-map+prototypes+reranker", "rerank": {"kept": True}}
    return Adapter(np.eye(2, dtype=np.float32), meta=meta, reranker=reranker)


def test_a_reranker_that_makes_the_held_back_top_1_worse_beyond_chance_is_dropped():
    """The gate's own searches have the last word on the reranker: its folds may say it helps while
    the held-back queries, which it never saw, say otherwise; a query or two is noise."""
    without = (0.5, 0.9, [1] * 10 + [2] * 10)
    noise = (0.45, 0.9, [2] + [1] * 8 + [3] + [2] * 10)  # 2 right at top-1 lost, none won
    adapter = _reranked_adapter()
    assert keep_reranker(adapter, without, noise) == noise  # what the generation will serve
    assert adapter.reranker is not None and adapter.meta["rerank"]["kept"]
    assert adapter.meta["rerank"]["held_back"] == {
        "without": {"recall_at_1": 0.5, "recall_at_10": 0.9},
        "with": {"recall_at_1": 0.45, "recall_at_10": 0.9},
        "top1_worse": 2,
        "top1_better": 0,
        "p_worse": 0.25,
    }

    worse = (0.0, 0.9, [2] * 20)  # all 10 lost: p = 0.5 ** 10
    adapter = _reranked_adapter()
    assert keep_reranker(adapter, without, worse) == without
    assert adapter.reranker is None and adapter.meta["kind"] == "query-map+prototypes"
    assert not adapter.meta["rerank"]["kept"]
    assert adapter.meta["rerank"]["why"] == (
        "it lowered the held-back pairs' recall@1 from 0.500 to 0.000 "
        "(10 queries worse at top-1, 0 better: p = 0.000977 < 0.05)"
    )


def test_a_kept_reranker_the_gate_refuses_is_dropped_when_the_adapter_alone_passes():
    """Kept as noise on the held-back pairs (not worse beyond chance), a reranker decided the gate:
    the adapter with it was refused while the adapter alone beat the live generation."""
    current = (0.25, 0.9, [1] * 10 + [2] * 30)
    alone = (0.5, 0.9, [1] * 20 + [2] * 20)  # 10 more right at top-1: p = 0.5 ** 10
    reranked = (0.275, 0.9, [1] * 11 + [2] * 29)  # 1 more: chance
    adapter = _reranked_adapter()
    rules, gated = gate(adapter, current, reranked, alone)
    assert gated == alone and all(r.passed for r in rules)
    assert adapter.reranker is None and adapter.meta["kind"] == "query-map+prototypes"
    assert adapter.meta["rerank"]["why"] == (
        "the gate refused the adapter with it (held-back recall@1 0.275) and passes it alone (0.500 against the "
        "live 0.250)"
    )

    adapter = _reranked_adapter()  # refused either way: the reranker stays in what the report shows
    rules, gated = gate(adapter, current, reranked, reranked)
    assert gated == reranked and not all(r.passed for r in rules) and adapter.reranker is not None

    adapter = _reranked_adapter()  # passed with it: kept
    rules, gated = gate(adapter, current, alone, reranked)
    assert gated == alone and all(r.passed for r in rules) and adapter.reranker is not None
