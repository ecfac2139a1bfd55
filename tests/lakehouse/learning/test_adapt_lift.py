"""The paraphrase lift trains an adapter on its own recorded train picks and reports cold / warm /
adapted recall; nothing of the live corpus or the lakehouse's playbooks is touched."""

from __future__ import annotations

import json

import pytest

from lakehouse.learning.lift.harness import run_lift
from tests.fixtures.adapt import onet_lakehouse, titles
from tests.fixtures.lift import write_queries

SIX = ("recall_at_1_cold", "recall_at_10_cold", "recall_at_1_warm", "recall_at_10_warm")
ADAPTED = ("recall_at_1_adapted", "recall_at_10_adapted")


@pytest.fixture(scope="module")
def lh(tmp_path_factory):
    lakehouse = onet_lakehouse(tmp_path_factory.mktemp("adapt-lift"))
    yield lakehouse
    lakehouse.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adapt-lift-files")
    return write_queries(tmp / "train.jsonl", titles("titles_train", 400)), write_queries(
        tmp / "test.jsonl", titles("titles_test", 150)
    )


def test_paraphrase_reports_cold_warm_and_adapted(lh, files, tmp_path):
    generations = lh.corpora.generations("onet")
    train, test = files
    result, paths = run_lift(lh, ["onet"], train=train, test=test, out_dir=tmp_path)
    report = result.report
    for key in SIX + ADAPTED:
        assert isinstance(report[key], float), key
    # every labelled train title is recorded, also those the cold pass did not reach
    assert report["recorded"] == report["train_queries"] == 400
    picks = result.meta["train"]
    assert any(p["pick"]["rank"] is None for p in picks) and all(p["pick"] for p in picks)
    adapt = result.meta["adapt"]
    assert adapt["pairs"] == 400 and adapt["cpu_s"] > 0 and adapt["peak_rss_mb"] > 0
    assert adapt["gate"]["against"] == "warm" and len(adapt["gate"]["rules"]) == 2
    assert report["recall_at_10_adapted"] > report["recall_at_10_cold"]
    markdown = open(paths["markdown"]).read()
    assert "| | cold | warm | adapted |" in markdown and "the adapt gate" in markdown
    saved = json.loads(open(paths["json"]).read())
    assert saved["report"]["recall_at_1_adapted"] == report["recall_at_1_adapted"]
    assert lh.corpora.generations("onet") == generations  # nothing staged, nothing promoted
    assert not lh.settings.playbook_log.exists()  # the lakehouse's own store is untouched


def test_no_adapt_leaves_the_adapted_fields_null(lh, files, tmp_path):
    train, test = files
    result, paths = run_lift(lh, ["onet"], train=train, test=test, out_dir=tmp_path, adapt=False)
    assert all(isinstance(result.report[key], float) for key in SIX)
    assert result.report["recall_at_1_adapted"] is None and result.report["recall_at_10_adapted"] is None
    assert result.meta["adapt"] is None
    assert "| | cold | warm |" in open(paths["markdown"]).read()


def test_the_adapted_pass_goes_on_from_the_live_adapter(lh, files, tmp_path):
    from lakehouse.learning.adapt import corpus_rows
    from lakehouse.learning.adapter_training import train
    from lakehouse.search.embed import get_embedder

    before = lh.corpora.manifest("onet").generation
    history = titles("titles_train", 700)[400:]  # the live corpus learned these before the run
    ids, vectors = corpus_rows(lh, lh.corpora.get("onet"))
    embed = get_embedder(lh.settings.embed_model, lh.settings).embed
    live = train(embed([r["query"] for r in history]), [r["expected"][0] for r in history], ids, vectors, epochs=20)
    generation = lh.corpora.stage("onet", adapter=live, adapter_meta=dict(live.meta), reason="adapt")
    lh.corpora.promote("onet", generation)
    try:
        train_file, test_file = files
        # no reranker: what goes on from the live adapter is the query map (the paraphrase test above
        # trains one)
        result, _ = run_lift(lh, ["onet"], train=train_file, test=test_file, out_dir=tmp_path, rerank=False)
        adapt = result.meta["adapt"]["corpora"]["onet"]
        assert adapt["start_pairs"] == 300 and adapt["pairs"] == 400
        assert result.meta["vote_weights_changed"] == {}  # it already votes at the short-history weight
        assert lh.corpora.manifest("onet").generation == generation  # the live one stays as it was
    finally:
        lh.corpora.promote("onet", before)


def test_the_warm_pass_votes_at_the_short_history_weight(lh, files, tmp_path):
    """A live adapter whose vote weight the gate chose for a long history (2.5) votes at 0.8 over
    the run's store, which holds only the train file: the warm pass ranks exactly as a view voting
    at 0.8 does, and the live generation keeps its 2.5."""
    from lakehouse.learning.adapt import corpus_rows
    from lakehouse.learning.adapter_training import ADAPTED_VOTE_WEIGHT, train
    from lakehouse.learning.views import PinnedCorpora
    from lakehouse.search.embed import get_embedder
    from lakehouse.search.matrix import MatrixSearcher
    from lakehouse.search.playbooks import PlaybookStore

    before = lh.corpora.manifest("onet").generation
    history = titles("titles_train", 700)[400:]
    ids, vectors = corpus_rows(lh, lh.corpora.get("onet"))
    embed = get_embedder(lh.settings.embed_model, lh.settings).embed
    live = train(embed([r["query"] for r in history]), [r["expected"][0] for r in history], ids, vectors, epochs=20)
    live.meta["vote_weight"] = 2.5  # as the gate picks it for a long history
    generation = lh.corpora.stage("onet", adapter=live, adapter_meta=dict(live.meta), reason="adapt")
    lh.corpora.promote("onet", generation)
    try:
        train_file, test_file = files
        result, paths = run_lift(lh, ["onet"], train=train_file, test=test_file, out_dir=tmp_path, adapt=False)
        assert result.meta["vote_weights_changed"] == {"onet": {"live": 2.5, "run": ADAPTED_VOTE_WEIGHT}}
        assert "`onet` votes at 0.8 in this run's store (its live generation's 2.5" in open(paths["markdown"]).read()
        loaded = lh.corpora.get("onet")
        assert loaded.adapter.meta["vote_weight"] == 2.5  # the live generation is as it was

        s = lh.settings
        store = PlaybookStore(
            result.meta["playbook_store"],
            lambda: get_embedder(s.embed_model, s),
            half_life_days=s.playbook_half_life_days,
            min_similarity=s.playbook_min_similarity,
        )
        queries = [row["query"] for row in result.rows]

        def top1(weight: float) -> list[str | None]:
            view = loaded.with_adapter(loaded.adapter.voting_at(weight))
            searcher = MatrixSearcher(PinnedCorpora(lh.corpora, {"onet": view}), s, lambda m: get_embedder(m, s), store)
            found = searcher.search_many(queries, ["onet"], top_k=10, top_n=10, use_playbooks=True, relevance=False)
            return [r.hits[0].id if r.hits else None for r in found]

        warm = [row["warm_top1"]["id"] if row["warm_top1"] else None for row in result.rows]
        assert warm == top1(ADAPTED_VOTE_WEIGHT)
        assert warm != top1(2.5)  # the weight matters on this store: the live one would rank otherwise
        store.close()
    finally:
        lh.corpora.promote("onet", before)
