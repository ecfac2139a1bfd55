"""What the nightly drift check says of an odd evidence history or an odd parameter: torn or garbage
lines skipped are named in the scorer's summary (the run read as a clean, smaller history); an empty
history is skipped as a missing one is (it failed the run); a corpus name that is no corpus is a
skipped row (a typo checked nothing, in silence)."""

from __future__ import annotations

import shutil

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from modes.context import ModeContext
from modes.invoke import invoke_mode


def _home(jobs_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(jobs_home, home, ignore=shutil.ignore_patterns("drift", "ops.jsonl", "lift"))
    return home


def _nightly(home, **payload):
    ctx = ModeContext.standalone(Lakehouse(Settings(home=home, embed_model="wordllama")))
    return {(c["check"], c["target"]): c for c in invoke_mode("drift.nightly", payload, ctx)["checks"]}


def test_garbage_lines_in_the_evidence_are_said_in_the_scorers_summary(jobs_home, tmp_path):
    home = _home(jobs_home, tmp_path)
    evidence = home / "evidence.jsonl"
    with evidence.open("a") as log:
        log.write('{"query": "torn", "answ\nGARBAGE LINE\n[1,2,3]\n')
    scorer = _nightly(home, corpora=[])[("scorer", str(evidence))]
    assert scorer["status"] == "ok" and scorer["result"]["skipped_count"] == 3
    assert scorer["summary"].endswith(
        f"; 3 unreadable line(s) skipped, the first: {evidence}, line 21: Unterminated string starting at: column 19"
    ), scorer["summary"]


def test_an_empty_evidence_history_is_skipped_as_a_missing_one(jobs_home, tmp_path):
    home = _home(jobs_home, tmp_path)
    (home / "evidence.jsonl").write_text("")
    scorer = _nightly(home, corpora=[])[("scorer", str(home / "evidence.jsonl"))]
    assert (scorer["status"], scorer["summary"]) == (
        "skipped",
        f"the evidence history at {home / 'evidence.jsonl'} is empty",
    )


def test_a_corpus_that_does_not_exist_is_a_skipped_row(jobs_home, tmp_path):
    checks = _nightly(_home(jobs_home, tmp_path), corpora=["nope"])
    assert (checks[("embedding", "nope")]["status"], checks[("embedding", "nope")]["summary"]) == (
        "skipped",
        "no corpus 'nope'",
    )
