"""Ratings recorded in-process: each one a playbook entry and an evidence record under one id,
read back by the scorers and by scorer drift; files import idempotently with per-line errors."""

from __future__ import annotations

import json

import pytest

from lakehouse.common.errors import InputFileError
from lakehouse.common.recordfile import read_records
from lakehouse.learning.distill import EvidenceRecord, score
from lakehouse.learning.drift import scorer_drift
from lakehouse.learning.ratings import Rating, import_ratings, record_ratings
from tests.fixtures import ratings
from tests.fixtures.ratings import HYGIENIST, NURSE, logs, open_home

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home


def test_a_good_and_a_bad_rating_become_playbooks_and_evidence(rating_home):
    lh = open_home(rating_home)
    out = record_ratings(
        lh,
        [
            {"query": "ICU nurse, nights", "corpus": "health", "id": NURSE, "verdict": "good", "by": "ana"},
            Rating(query="teeth cleaning", corpus="health", id=NURSE, verdict="bad", note="a hygienist"),
        ],
        source="mode",
        source_run="run-7",
    )
    assert (out.recorded, out.duplicates) == (2, 0)
    ids = [r.id for r in out.results]
    playbooks = {p.id: p for p in lh.playbooks.entries()}
    assert [(playbooks[i].answer, playbooks[i].score) for i in ids] == [(NURSE, 1.0), (NURSE, -1.0)]
    evidence = read_records(rating_home / "evidence.jsonl", EvidenceRecord)
    assert [e.id for e in evidence] == ids
    good, bad = evidence
    assert good.answer == f"{NURSE} Registered Nurses"  # the hit's title, as SFT data answers
    assert (good.judge_score, good.success, good.latency_ms, good.flags) == (1.0, True, 0.0, [])
    assert good.meta == {
        "kind": "rating",
        "verdict": "good",
        "corpus": "health",
        "hit_id": NURSE,
        "source": "mode",
        "by": "ana",
    }
    assert (bad.judge_score, bad.success, bad.meta["note"], bad.source_run) == (0.0, False, "a hygienist", "run-7")
    # a person's verdict is final: gold and reject under every scorer, so drift between them is 0
    assert [score(e, v).category for e in evidence for v in ("v1", "v2")] == ["gold", "gold", "reject", "reject"]
    assert scorer_drift(evidence, "v1", "v2").drifted == 0
    lh.close()


def test_re_importing_a_file_stores_nothing_twice(rating_home, tmp_path):
    placements = tmp_path / "placements.csv"
    placements.write_text(
        "query,corpus,id,verdict,by,note,ts\n"
        f"night shift ICU nurse,health,{NURSE},good,bo,,2025-01-02T10:00:00Z\n"
        f"dental cleaning,health,{HYGIENIST},1,,,\n"
        f'x-ray tech,health,{NURSE},false,ana,"wrong, a radiographer",2025-02-01\n'
    )
    lh = open_home(rating_home)
    first = import_ratings(lh, placements, source="mode")
    assert (first.recorded, first.duplicates) == (3, 0)
    assert [r.where for r in first.results] == [f"{placements} line {n}" for n in (2, 3, 4)]
    before = logs(rating_home)
    again = import_ratings(lh, placements, source="mode")
    assert (again.recorded, again.duplicates) == (0, 3)
    assert [r.id for r in again.results] == [r.id for r in first.results]
    assert logs(rating_home) == before
    evidence = read_records(rating_home / "evidence.jsonl", EvidenceRecord)
    assert [e.meta["verdict"] for e in evidence] == ["good", "good", "bad"]
    assert evidence[2].meta["ts"] == "2025-02-01T00:00:00+00:00"
    lh.close()


def test_a_jsonl_file_imports_too_and_a_single_rating_is_dated_now(rating_home, tmp_path):
    rows = [{"query": "registered nurse", "corpus": "health", "id": NURSE, "verdict": True, "rating_id": "r-1"}]
    path = tmp_path / "ratings.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lh = open_home(rating_home)
    out = import_ratings(lh, path, source="mode")
    assert [r.id for r in out.results] == ["r-1"]
    single = {"query": "registered nurse", "corpus": "health", "id": NURSE, "verdict": "good"}
    a = record_ratings(lh, [single], source="mode", stamp=True)
    b = record_ratings(lh, [single], source="mode", stamp=True)
    assert a.results[0].id != b.results[0].id  # rating the same match again later is a new rating
    assert "ts" in read_records(rating_home / "evidence.jsonl", EvidenceRecord)[1].meta
    lh.close()


def test_file_level_problems_name_the_file(rating_home, tmp_path):
    lh = open_home(rating_home)
    with pytest.raises(InputFileError, match=r"nope\.csv: no such file"):
        import_ratings(lh, tmp_path / "nope.csv", source="mode")
    wrong = tmp_path / "placements.csv"
    wrong.write_text("query,corpus,id,verdikt\nq,health,x,good\n")
    with pytest.raises(
        InputFileError, match=r"placements\.csv line 1: unknown column\(s\) 'verdikt'; did you mean 'verdict'"
    ):
        import_ratings(lh, wrong, source="mode")
    xlsx = tmp_path / "placements.xlsx"
    xlsx.write_text("x")
    with pytest.raises(InputFileError, match=r"expected a \.csv or \.jsonl file"):
        import_ratings(lh, xlsx, source="mode")
    assert logs(rating_home) == (b"", b"")
    lh.close()


def test_a_rating_dated_in_the_future_or_before_year_1_in_utc_is_refused():
    row = {"query": "registered nurse", "corpus": "health", "id": NURSE, "verdict": "good"}
    with pytest.raises(ValueError, match=r"9999-12-31T00:00:00\+00:00 is in the future: give the time the judgement"):
        Rating.model_validate({**row, "ts": "9999-12-31"})
    assert Rating.model_validate({**row, "ts": "2024-05-01"}).ts.year == 2024
    # year 1 at +05:00 is the year 0 in UTC: the rating's id (made in UTC) overflowed, a 500
    with pytest.raises(ValueError, match=r"0001-01-01T00:00:00\+05:00 falls outside the years 1-9999 in UTC"):
        Rating.model_validate({**row, "ts": "0001-01-01T00:00:00+05:00"})
