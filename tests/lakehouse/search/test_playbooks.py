"""Playbooks: bulk record with per-entry results, boost and demotion on re-query, decay, durability."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from lakehouse.search.matrix import MatrixSearcher
from lakehouse.search.playbooks import PlaybookError, PlaybookStore

OCC = ["occupations"]


def store_for(world, path):
    def answer_exists(corpus, answer):
        if not world.corpora.get(corpus).has(answer):
            raise PlaybookError(f"corpus {corpus!r} has no id {answer!r}")

    s = world.settings
    return PlaybookStore(
        path,
        lambda: world.corpora.embedder(),
        validate=answer_exists,
        half_life_days=s.playbook_half_life_days,
        min_similarity=s.playbook_min_similarity,
    )


@pytest.fixture
def searcher(vector_world, tmp_path):
    store = store_for(vector_world, tmp_path / "playbooks.jsonl")
    return MatrixSearcher(
        vector_world.corpora, vector_world.settings, lambda m: vector_world.corpora.embedder(m), store
    )


def ranked(searcher, query, playbooks=True, corpora=OCC):
    result = searcher.search(
        query, corpora, use_playbooks=playbooks, relevance=False, top_k=10, top_n=10, force_mode=True
    )
    return result, [h.id for h in result.hits]


def test_bulk_record_reports_each_entry_and_keeps_the_valid_ones(searcher):
    store = searcher.playbooks
    entries = [
        {"query": "forklift driver", "answer": "53-7051.00", "corpus": "occupations", "score": 1.0},
        {"query": "forklift driver", "answer": "53-7051.00", "corpus": "occupations"},  # no score
        {"query": "ICU nurse", "answer": "29-1141.03", "corpus": "occupations", "score": 3},  # out of range
        {"query": "ICU nurse", "answer": "29-1141.03", "corpus": "ocupations", "score": 1},  # unknown corpus
        {"query": "ICU nurse", "answer": "99-9999.99", "corpus": "occupations", "score": 1},  # unknown id
        ["not", "an", "object"],
        {"query": "", "answer": "29-1141.03", "corpus": "occupations", "score": 1},
        {"query": "ICU nurse", "answer": "29-1141.03", "corpus": "occupations", "score": 0.9, "colour": "red"},
        {"query": "line cook", "answer": "35-2014.00", "corpus": "occupations", "score": float("nan")},
        {"query": "ICU nurse", "answer": "29-1141.03", "corpus": "occupations", "score": 0.9},
    ]
    report = store.record_many(entries)
    assert (report["recorded"], report["failed"]) == (2, 8)
    results = report["results"]
    assert [r["index"] for r in results] == list(range(10))
    assert results[0]["id"].startswith("pb-") and results[9]["id"].startswith("pb-")
    errors = {r["index"]: r["error"] for r in results if "error" in r}
    assert "field 'score': Field required" in errors[1]
    assert "field 'score': Input should be less than or equal to 1" in errors[2]
    assert "corpus 'ocupations' not found; did you mean 'occupations'" in errors[3]
    assert "corpus 'occupations' has no id '99-9999.99'" in errors[4]
    assert "expected an object with query, answer, corpus, score; got list" in errors[5]
    assert "field 'query': String should have at least 1 character" in errors[6]
    assert "field 'colour': Extra inputs are not permitted" in errors[7]
    assert "field 'score': Input should be a finite number" in errors[8]
    lines = store.log.path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [results[0]["id"], results[9]["id"]]
    with pytest.raises(PlaybookError, match="has no id 'nope'"):
        store.record("x", "nope", "occupations", 1.0)
    assert len(store.log.path.read_text().splitlines()) == 2


def test_each_recorded_entry_is_boosted_on_re_query(searcher):
    cases = [  # query -> an answer that is in the cold top-10 but not first
        "forklift operator for a warehouse night shift",
        "registered nurse for a hospital ICU",
        "truck driver",
    ]
    picks = {}
    for query in cases:
        cold, ids = ranked(searcher, query, playbooks=False)
        picks[query] = ids[4]  # the judge preferred the 5th hit
    report = searcher.playbooks.record_many(
        [{"query": q, "answer": a, "corpus": "occupations", "score": 1.0} for q, a in picks.items()]
    )
    assert report["recorded"] == 3
    for (query, answer), row in zip(picks.items(), report["results"], strict=False):
        cold, _ = ranked(searcher, query, playbooks=False)
        warm, ids = ranked(searcher, query)
        assert ids[0] == answer
        lifted = warm.hits[0]
        assert lifted.boosted_by == [row["id"]] and lifted.boost > 0.9
        before = next(h for h in cold.hits if h.id == answer)
        assert lifted.score > before.score and lifted.raw_score == pytest.approx(before.score, abs=1e-6)


def test_a_negative_entry_demotes_its_answer(searcher):
    query = "software developer"
    _, ids = ranked(searcher, query, playbooks=False)
    assert ids[0] == "15-1252.00"
    searcher.playbooks.record(query, "15-1252.00", "occupations", -1.0)
    warm, ids = ranked(searcher, query)
    demoted = next(h for h in warm.hits if h.id == "15-1252.00")
    assert ids.index("15-1252.00") > 0 and demoted.boost < 0 and demoted.boosted_by


def test_similar_queries_are_boosted_and_unrelated_ones_are_not(searcher):
    searcher.playbooks.record("forklift operator for a warehouse night shift", "53-3031.00", "occupations", 1.0)
    _, similar = ranked(searcher, "forklift operator for the night shift in a warehouse")
    assert similar[0] == "53-3031.00"
    unrelated, _ = ranked(searcher, "pastry chef for a bakery")
    assert all(not h.boosted_by for h in unrelated.hits) and unrelated.playbook_matches == 0


def test_a_recorded_answer_outside_the_top_k_joins_the_candidates(searcher):
    query = "registered nurse for a hospital ICU"
    _, cold_ids = ranked(searcher, query, playbooks=False)
    assert "53-7051.00" not in cold_ids  # a forklift occupation: nowhere near this query
    searcher.playbooks.record(query, "53-7051.00", "occupations", 1.0)
    warm, ids = ranked(searcher, query)
    assert "53-7051.00" in ids and warm.candidates == 11


def test_scores_decay_with_the_half_life(searcher):
    store = searcher.playbooks
    now = datetime.now(UTC)
    half_life = store.half_life_days
    store.record("welder", "51-4121.00", "occupations", 1.0, ts=now)
    store.record("welder", "51-4122.00", "occupations", 1.0, ts=now - timedelta(days=half_life))
    vector = store.embedder.embed(["welder"])[0]
    weights = {m.playbook.answer: m.weight for m in store.lookup(vector, now=now)}
    assert weights["51-4122.00"] == pytest.approx(weights["51-4121.00"] / 2, rel=1e-3)


def test_age_counts_in_whole_hours(searcher):
    """Two searches seconds apart weigh an entry the same: a lift run twice trains on equal features."""
    store = searcher.playbooks
    recorded = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert store.decay(recorded, recorded + timedelta(seconds=5)) == 1.0
    assert store.decay(recorded, recorded + timedelta(minutes=59, seconds=59)) == 1.0
    a_day = store.decay(recorded, recorded + timedelta(hours=24, minutes=1))
    assert a_day == store.decay(recorded, recorded + timedelta(hours=24, minutes=59))
    assert a_day == pytest.approx(0.5 ** (1 / store.half_life_days), rel=1e-12)


def test_entries_survive_a_reopen_and_a_torn_tail_is_skipped(vector_world, tmp_path):
    path = tmp_path / "pb.jsonl"
    first = store_for(vector_world, path)
    entry = first.record("line cook", "35-2014.00", "occupations", 0.8)
    with open(path, "ab") as fh:
        fh.write(b'{"id": "pb-torn", "query": "half a li')  # a crash mid-append
    reopened = store_for(vector_world, path)
    assert [e.id for e in reopened.entries()] == [entry.id]
    later = reopened.record("sous chef", "35-1011.00", "occupations", 0.9)  # on a line of its own
    assert [e.id for e in store_for(vector_world, path).entries()] == [entry.id, later.id]
    again = reopened.entries()[0]
    np.testing.assert_allclose(again.vector, entry.vector)  # stored embedding, not re-embedded
    assert (again.query, again.answer, again.corpus, again.score) == ("line cook", "35-2014.00", "occupations", 0.8)


def test_an_entry_from_the_future_is_refused_and_an_old_one_kept(searcher):
    """Weights decay with age: an entry dated 9999 would have kept its full weight for ever."""
    store = searcher.playbooks
    before = len(store.entries())
    entry = {"query": "welder", "answer": "51-4121.00", "corpus": "occupations", "score": 1.0}
    report = store.record_many([{**entry, "ts": "9999-12-31T23:59:59Z"}, {**entry, "ts": "2001-01-01T00:00:00Z"}])
    assert (report["recorded"], report["failed"]) == (1, 1)
    assert (
        "9999-12-31T23:59:59+00:00 is in the future: give the time the judgement was made"
        in (report["results"][0]["error"])
    )
    assert len(store.entries()) == before + 1
