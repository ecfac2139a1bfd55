"""An entry id names one judgement: the same judgement under it again is a duplicate (skipped),
another judgement under it is a conflict, reported and never dropped as a duplicate or stored."""

from __future__ import annotations

import json

from lakehouse.search.errors import PlaybookError
from lakehouse.search.playbooks import PlaybookStore
from tests.lakehouse.search.test_playbooks import store_for

FORKLIFT = {"query": "forklift driver", "answer": "53-7051.00", "corpus": "occupations", "score": 1.0}


def test_another_judgement_under_a_recorded_id_is_a_conflict(vector_world, tmp_path):
    store = store_for(vector_world, tmp_path / "playbooks.jsonl")
    assert store.record_many([{**FORKLIFT, "id": "pb1"}])["recorded"] == 1
    before = store.log.path.read_bytes()
    again = store.record_many(
        [
            {**FORKLIFT, "id": "pb1", "ts": "2025-01-01T00:00:00Z"},  # the same judgement, another time
            {**FORKLIFT, "id": "pb1", "query": "reach truck operator", "score": -1},
        ]
    )
    assert (again["recorded"], again["skipped"], again["failed"]) == (0, 1, 1)
    duplicate, conflict = again["results"]
    assert duplicate == {"index": 0, "id": "pb1", "status": "duplicate"}
    assert conflict["status"] == "conflict" and conflict["id"] == "pb1"
    assert (
        "id 'pb1' already names another judgement (query 'forklift driver', answer '53-7051.00', "
        "corpus 'occupations', score 1); this entry differs in its query, score: give it an id of its own"
    ) in conflict["error"]
    assert store.log.path.read_bytes() == before


def test_two_judgements_under_one_id_in_a_batch_keep_the_first_and_report_the_second(vector_world, tmp_path):
    store = store_for(vector_world, tmp_path / "playbooks.jsonl")
    out = store.record_many(
        [{**FORKLIFT, "id": "pb1"}, {**FORKLIFT, "id": "pb1", "answer": "53-7062.00"}, {**FORKLIFT, "id": "pb1"}],
        idempotent=True,
    )
    assert [r.get("status") for r in out["results"]] == [None, "conflict", "duplicate"]
    assert "differs in its answer" in out["results"][1]["error"]
    lines = [json.loads(line) for line in store.log.path.read_text().splitlines()]
    assert [(r["id"], r["answer"]) for r in lines] == [("pb1", "53-7051.00")]


def test_a_failed_entry_still_names_the_id_it_gave(vector_world, tmp_path):
    store = store_for(vector_world, tmp_path / "playbooks.jsonl")
    out = store.record_many([{**FORKLIFT, "id": "pb9", "corpus": "nope"}, {**FORKLIFT, "id": "bad id!"}])
    assert [(r["id"], "error" in r) for r in out["results"]] == [("pb9", True), (None, True)]
    assert not store.log.path.exists() or store.log.path.read_text() == ""


def test_a_recorded_judgement_sent_again_is_a_duplicate_after_its_corpus_has_gone(vector_world, tmp_path):
    """Re-importing an export: the entries already held are duplicates, not errors, though their
    corpus was removed since; only a new entry is checked against it."""
    store = store_for(vector_world, tmp_path / "playbooks.jsonl")
    assert store.record_many([{**FORKLIFT, "id": "pb1"}])["recorded"] == 1
    before = store.log.path.read_bytes()

    def corpus_gone(corpus, answer):
        raise PlaybookError(f"corpus {corpus!r} is not built")

    later = PlaybookStore(store.log.path, lambda: vector_world.corpora.embedder(), validate=corpus_gone)
    out = later.record_many([{**FORKLIFT, "id": "pb1"}, {**FORKLIFT, "id": "pb2"}, {**FORKLIFT, "id": "pb1"}])
    assert (out["recorded"], out["skipped"], out["failed"]) == (0, 2, 1)
    assert out["results"][0] == {"index": 0, "id": "pb1", "status": "duplicate"}
    assert out["results"][1] == {"index": 1, "id": "pb2", "error": "corpus 'occupations' is not built"}
    assert out["results"][2] == {"index": 2, "id": "pb1", "status": "duplicate"}
    assert store.log.path.read_bytes() == before
