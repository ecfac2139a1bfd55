"""`lakehouse rate`: one rating (human and JSON output), a file of placements (re-import stores
nothing twice), each through mode `matrix.feedback` (one audit row); and `search --help` states
its defaults as words and numbers."""

from __future__ import annotations

import json

from lakehouse.common.recordfile import read_records
from lakehouse.learning.distill import EvidenceRecord
from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.ratings import HYGIENIST, NURSE, logs, open_home

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home


def test_one_rating_human_and_json(rating_home):
    human = invoke_cli("rate", "ICU nurse", "--corpus", "health", "--good", NURSE, "--by", "ana", "--note", "placed")
    assert "recorded good rating rt-" in human.stdout and f"health/{NURSE}" in " ".join(human.stdout.split())
    out = json.loads(invoke_cli("rate", "teeth cleaning", "--corpus", "health", "--bad", NURSE, "--json").stdout)
    assert (out["recorded"], out["duplicates"]) == (1, 0)
    assert out["results"][0]["playbook"] == out["results"][0]["evidence"] == "recorded"
    evidence = read_records(rating_home / "evidence.jsonl", EvidenceRecord)
    assert [(e.query, e.meta["verdict"], e.meta.get("by"), e.meta.get("note")) for e in evidence] == [
        ("ICU nurse", "good", "ana", "placed"),
        ("teeth cleaning", "bad", None, None),
    ]
    lh = open_home(rating_home)
    assert sorted(p.score for p in lh.playbooks.entries()) == [-1.0, 1.0]
    ops = [op for op in lh.observer.ops() if op["mode"] == "matrix.feedback"]
    assert [op["status"] for op in ops] == ["completed", "completed"]
    lh.close()


def test_a_placements_file_imports_once(rating_home, tmp_path):
    path = tmp_path / "placements.csv"
    path.write_text(
        "query,corpus,id,verdict,by,ts\n"
        f"night ICU nurse,health,{NURSE},good,bo,2025-01-02T10:00:00Z\n"
        f"dental cleaning,health,{HYGIENIST},1,,\n"
    )
    first = json.loads(invoke_cli("rate", "--file", str(path), "--json").stdout)
    assert (first["recorded"], first["duplicates"]) == (2, 0)
    before = logs(rating_home)
    again = invoke_cli("rate", "--file", str(path))
    # rich wraps to the terminal's width, even inside a long path: compare without the whitespace
    assert f"recorded0rating(s)from{path},2alreadythere" in "".join(again.stdout.split())
    assert logs(rating_home) == before


def test_search_help_states_every_default_in_words_and_numbers():
    text = " ".join(invoke_cli("search", "--help").stdout.split())
    for default in (
        "(default 8)",
        "(default 6, at least --top",
        "(default: no filter",
        "default: none, every row",
        "vote (up to 20 nearest; default: on)",
        "the adapter and the ranks its reranker moved the hit between (default: off)",
        "below 0.25 or more than 0.25 below the best hit's (default: on)",
        "default: none, all corpora",
        "(default: off, the gate decides)",
        "(default: off, a table)",
    ):
        assert default in text, default
    assert "matrix_top" not in text and "relevance_threshold" not in text and "[default: playbook]" not in text


def test_onet_title_ratings_import_into_a_corpus(rating_home, tmp_path):
    path = tmp_path / "titles.csv"
    made = json.loads(
        invoke_cli("examples", "titles", "--corpus", "health", "--out", str(path), "--titles", "20", "--json").stdout
    )
    assert made["titles"] == 20 and made["not_in_corpus"] > 0
    imported = json.loads(invoke_cli("rate", "--file", str(path), "--json").stdout)
    assert (imported["recorded"], imported["duplicates"]) == (made["ratings"], 0)
    missing = invoke_cli("examples", "titles", "--corpus", "nope", "--out", str(tmp_path / "x.csv"), code=1)
    assert "corpus 'nope' not found" in missing.stderr and not (tmp_path / "x.csv").exists()


def test_a_rerun_after_a_killed_import_says_it_finished_the_half_stored_ratings(rating_home, tmp_path):
    """A killed import can leave playbook entries without their evidence (the evidence is written
    second); the re-run writes the evidence, and said "0 already there" as if nothing had been."""
    path = tmp_path / "placements.csv"
    path.write_text(f"query,corpus,id,verdict\nnight ICU nurse,health,{NURSE},good\nteeth,health,{HYGIENIST},good\n")
    invoke_cli("rate", "--file", str(path))
    (rating_home / "evidence.jsonl").unlink()  # the state the kill left: playbooks in, evidence not
    again = "".join(invoke_cli("rate", "--file", str(path)).stdout.split())
    assert f"recorded2rating(s)from{path},0alreadythere(2ofthoserecordedwerehalf-storedbyanearlierimport" in again
    assert len(read_records(rating_home / "evidence.jsonl", EvidenceRecord)) == 2
