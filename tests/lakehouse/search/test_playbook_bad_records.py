"""Records in the playbook log that no writer would write (edited by hand, another program, another
version): a NaN score voted with full weight and replayed its answer at the top, a score of 50 voted
fifty times over, a `ts` without a zone failed every search and adapt with a bare TypeError, a
query that is no text failed adapt with an AttributeError, and the records skipped (a vector that is
not base64 float32, a corpus of null) were dropped without a word. Each is skipped now, with its
line on stderr; a `ts` without a zone is taken as UTC, as writers take it."""

from __future__ import annotations

import json
import logging

from tests.lakehouse.search.test_playbooks import store_for


def test_records_a_writer_would_refuse_are_skipped_and_named_by_line(vector_world, tmp_path, caplog):
    path = tmp_path / "pb.jsonl"
    good = store_for(vector_world, path).record("line cook", "35-2014.00", "occupations", 0.8)
    stored = json.loads(path.read_text())
    bad = [
        {"score": "NaN"},
        {"score": 50},
        {"query": 123},
        {"corpus": None},
        {"vector": "AAAA"},
        {"vector": "not base64!"},
    ]
    naive = {"id": "pb-naive", "ts": "2026-12-01T00:00:00"}
    with open(path, "a") as fh:
        for n, change in enumerate(bad):
            fh.write(json.dumps({**stored, "id": f"pb-bad-{n}", **change}) + "\n")
        fh.write(json.dumps({**stored, **naive}) + "\n")

    with caplog.at_level(logging.WARNING, logger="lakehouse.search.playbooks"):
        entries = store_for(vector_world, path).entries()
    assert [e.id for e in entries] == [good.id, "pb-naive"]
    assert entries[1].ts.utcoffset() is not None and entries[0].score == 0.8
    skipped = [m for m in caplog.messages if "skipped" in m]
    assert [m.split(": skipped")[0] for m in skipped] == [f"{path}, line {n}" for n in range(2, 8)]
    assert "score 'NaN' is not a number from -1 to 1" in skipped[0] and "score 50 is not" in skipped[1]
    assert "query 123 and corpus 'occupations' must be text" in skipped[2]


def test_a_search_ranks_as_if_the_bad_record_were_not_there(vector_world, tmp_path):
    from lakehouse.search.matrix import MatrixSearcher

    def searched(path):
        store = store_for(vector_world, path)
        searcher = MatrixSearcher(
            vector_world.corpora, vector_world.settings, lambda m: vector_world.corpora.embedder(m), store
        )
        result = searcher.search("pastry chef", ["occupations"], use_playbooks=True, relevance=False, force_mode=True)
        return [(h.id, round(h.score, 6)) for h in result.hits]

    clean, dirty = tmp_path / "clean.jsonl", tmp_path / "dirty.jsonl"
    store_for(vector_world, clean).record("line cook", "35-2014.00", "occupations", 1.0)
    stored = json.loads(clean.read_text())
    naive = json.dumps({**stored, "id": "pb-naive", "query": "baker", "ts": "2026-12-01T00:00:00"}) + "\n"
    clean.write_text(clean.read_text() + naive)
    nan = json.dumps({**stored, "id": "pb-nan", "query": "pastry chef", "score": "NaN"}) + "\n"
    dirty.write_text(clean.read_text() + nan)
    assert searched(dirty) == searched(clean)  # the NaN vote put line cook on top at 1.7
