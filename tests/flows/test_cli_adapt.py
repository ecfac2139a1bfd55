"""`lakehouse adapt`: learns from the recorded matches of real job titles and promotes the adapter
when it wins on the held-back ones; wrong answers are refused with the figures; errors are clear."""

from __future__ import annotations

import json
import re

import pytest

import lakehouse.learning.adapt as adapt_module
from flows.cli.adapt import _show
from flows.cli.common import console
from lakehouse.config import reset_settings
from tests.fixtures.adapt import entries, onet_lakehouse, titles
from tests.fixtures.cli import invoke_cli
from tests.fixtures.vectors import HEALTH_MODEL


@pytest.fixture(scope="module")
def adapt_home(tmp_path_factory):
    """`onet` with 1,200 real recorded matches; `onet_wrong` (the same rows) with 300 shuffled ones,
    the answer of the first two deleted since; `onet_few` with 5."""
    home = tmp_path_factory.mktemp("adapt-cli")
    lh = onet_lakehouse(home)
    try:
        for name in ("onet_wrong", "onet_few"):
            lh.corpora.build(name, "onet", ["Title", "Description"], "O*NET-SOC Code", ["Title"])
        lh.playbooks.record_many(entries(titles("titles_train", 1200)))
        wrong = entries(titles("titles_train", 302), corpus="onet_wrong", shuffled=True)
        lh.playbooks.record_many(wrong)
        lh.corpora.delete("onet_wrong", {e["answer"] for e in wrong[:2]})
        lh.playbooks.record_many(entries(titles("titles_test", 5), corpus="onet_few"))
    finally:
        lh.close()
    return home


@pytest.fixture
def env(adapt_home, monkeypatch):
    monkeypatch.setenv("LH_HOME", str(adapt_home))
    monkeypatch.setenv("LH_EMBED_MODEL", HEALTH_MODEL)
    monkeypatch.setattr(adapt_module, "EPOCHS", 60)  # fewer epochs than the default: the test stays quick
    reset_settings()
    yield adapt_home
    reset_settings()


def _live(home, corpus: str) -> int:
    from lakehouse.config import Settings
    from lakehouse.core import Lakehouse

    lh = Lakehouse(Settings(home=home, embed_model=HEALTH_MODEL))
    try:
        return lh.corpora.manifest(corpus).generation
    finally:
        lh.close()


def test_adapt_promotes_an_adapter_that_wins_on_held_back_matches(env):
    before = _live(env, "onet")
    out = json.loads(invoke_cli("adapt", "--corpus", "onet", "--json").stdout)
    # about a fifth held back, each query on the side its seeded draw puts it every time
    assert out["pairs"] == 1200 and 200 <= out["holdout_pairs"] <= 280
    assert out["train_pairs"] + out["holdout_pairs"] == 1200
    assert out["adapted"]["recall_at_1"] > out["current"]["recall_at_1"]
    assert out["passed"] and out["promoted"] and out["decision"].startswith(f"promoted generation {out['generation']}")
    assert [r["passed"] for r in out["rules"]] == [True, True, True]
    assert out["live_before"] == before and out["live_after"] == out["generation"] == _live(env, "onet")
    assert out["train"]["cpu_s"] > 0 and out["train"]["peak_rss_mb"] > 0 and out["trained_until"]
    rerank = out["train"]["rerank"]
    check = rerank["check"]  # 960 real titles, seeded: the folds say the reranker helps
    assert rerank["kept"] and check["recall_at_1_after"] > check["recall_at_1_before"] and rerank["cpu_s"] > 0
    held = rerank["held_back"]  # trained after the vote weight was chosen, then checked on the held-back pairs
    assert out["adapted"] == held["with"]  # kept: not worse beyond chance on them (p_worse below)
    assert held["without"] == out["train"]["vote_weights_tried"][str(out["train"]["vote_weight"])]
    assert held["top1_better"] >= 0 and held["top1_worse"] >= 0 and held["p_worse"] >= 0.05
    with console.capture() as shown:  # the same report as people read it
        _show(out)
    text = " ".join(shown.get().split())
    without, with_it = held["without"], held["with"]
    assert (
        f"held-back recall@1 / @10 {without['recall_at_1']:.3f} / {without['recall_at_10']:.3f} without it, "
        f"{with_it['recall_at_1']:.3f} / {with_it['recall_at_10']:.3f} with it ({held['top1_better']} better at "
        f"top-1, {held['top1_worse']} worse, p = {held['p_worse']:.3g}: not worse beyond chance)"
    ) in text
    found = json.loads(invoke_cli("search", "RN for night shift", "--corpus", "onet", "--explain", "--json").stdout)
    assert found["hits"]  # the promoted generation searches, through its reranker
    # (a hit below the reranker's depth that the relevance filter keeps is shown unreranked)
    assert any("rerank" in hit["why"] for hit in found["hits"])


def test_adapt_refuses_wrong_answers_and_says_why(env):
    before = _live(env, "onet_wrong")
    result = invoke_cli("adapt", "--corpus", "onet_wrong", "--holdout", "0.25", "--seed", "3", "--no-rerank")
    text = " ".join(result.stdout.split())
    # Trained on shuffled answers, nothing is learned: at most a chance query or two moves at top-1.
    assert "FAIL the top-1 gain is not chance (McNemar p < 0.05)" in text
    assert "refused: " in text and "staged, not live" in text
    trained = re.search(r"trained on (\d+) of (\d+) recorded matches", text)
    assert trained and 200 <= int(trained.group(1)) <= 250  # about three quarters
    gone = re.search(r"left out (\d+) recorded match\(es\) whose answer the corpus no longer holds", text)
    assert gone and int(trained.group(2)) + int(gone.group(1)) == 302 and int(gone.group(1)) >= 2
    assert re.search(
        r"playbook vote weight (0\.8|1\.5|2\.5) \(held-back recall@1 / @10 by weight: 0\.8: [\d.]+ / [\d.]+, 1\.5: ",
        text,
    )
    assert "reranker not kept: not asked for (--no-rerank)" in text
    # not a terminal: a line as each stage starts (minutes of silence looked like a hang)
    assert {"reading recorded matches…", "gate: current state…"} <= set(result.stderr.splitlines())
    assert _live(env, "onet_wrong") == before


def test_adapt_errors(env):
    few = invoke_cli("adapt", "--corpus", "onet_few", code=1)
    assert "corpus 'onet_few' has 5 recorded matches; adapt needs at least 20" in " ".join(few.stderr.split())
    missing = invoke_cli("adapt", "--corpus", "nope", code=1)
    assert "nope" in missing.stderr
    bad = invoke_cli("adapt", "--corpus", "onet", "--holdout", "2", code=2)
    assert "--holdout" in bad.stderr


def test_help_states_the_defaults():
    text = " ".join(invoke_cli("adapt", "--help").stdout.split())
    assert "default 0.2: 20%" in text and "default 0" in text and "recall@1 higher" in text


def test_lift_paraphrase_reports_the_six_recall_fields(env, tmp_path):
    from tests.fixtures.lift import write_queries

    train = write_queries(tmp_path / "train.jsonl", titles("titles_train", 150))
    test = write_queries(tmp_path / "test.jsonl", titles("titles_test", 60))
    common = ("lift", "run", "--train", str(train), "--test", str(test), "--corpus", "onet_few", "--json")
    report = json.loads(invoke_cli(*common, "--out", str(tmp_path / "a")).stdout)
    six = [f"recall_at_{k}_{state}" for state in ("cold", "warm", "adapted") for k in (1, 10)]
    assert all(isinstance(report[key], float) for key in six)
    skipped = json.loads(invoke_cli(*common, "--out", str(tmp_path / "b"), "--no-adapt").stdout)
    assert skipped["recall_at_1_adapted"] is None and skipped["recall_at_10_adapted"] is None
    assert skipped["recall_at_1_warm"] == report["recall_at_1_warm"]
