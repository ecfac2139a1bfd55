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
        result, _ = run_lift(lh, ["onet"], train=train_file, test=test_file, out_dir=tmp_path)
        adapt = result.meta["adapt"]["corpora"]["onet"]
        assert adapt["start_pairs"] == 300 and adapt["pairs"] == 400
        assert lh.corpora.manifest("onet").generation == generation  # the live one stays as it was
    finally:
        lh.corpora.promote("onet", before)
