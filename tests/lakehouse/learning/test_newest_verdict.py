"""A pair rated good, then wrong, is judged by its newest verdict in distillation and `drift
playbook` too, as `adapt` trains (probe B, finding 4): the retracted good rating is no gold SFT
example and no drifted match."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from lakehouse.learning.distill import EvidenceRecord, Firewall, export_sft
from lakehouse.learning.drift import recorded_matches
from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.ratings import HYGIENIST, NURSE

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _rating(query: str, hit: str, verdict: str, ts: datetime | None = None, corpus: str = "health") -> EvidenceRecord:
    meta = {"kind": "rating", "verdict": verdict, "corpus": corpus, "hit_id": hit} | (
        {"ts": ts.isoformat()} if ts else {}
    )
    good = verdict == "good"
    return EvidenceRecord(
        query=query, answer=f"{hit} title", judge_score=float(good), success=good, latency_ms=0, meta=meta
    )


def _exported(tmp_path, records: list[EvidenceRecord]) -> tuple[list[str], int]:
    report = export_sft(records, tmp_path / "sft.jsonl", firewall=Firewall(["unrelated evaluation query"]))
    lines = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    return [m["messages"][-2]["content"] for m in lines], report.superseded


def test_a_retracted_good_rating_is_not_exported(tmp_path):
    records = [
        _rating("ICU nurse", NURSE, "good"),
        _rating("icu  NURSE", NURSE, "bad"),  # the same query: case and spacing do not count
        _rating("dental cleaning", HYGIENIST, "bad"),
        _rating("dental cleaning", HYGIENIST, "good"),  # corrected the other way: gold
        _rating("ICU nurse", NURSE, "good", corpus="other"),  # another corpus's pair
        EvidenceRecord(query="free text", answer="an answer", judge_score=0.99, success=True, latency_ms=10),
    ]
    queries, superseded = _exported(tmp_path, records)
    assert sorted(queries) == ["ICU nurse", "dental cleaning", "free text"] and superseded == 2
    assert len(queries) == 3


def test_an_older_dated_rating_imported_later_does_not_overrule(tmp_path):
    records = [_rating("night nurse", NURSE, "good", T0), _rating("night nurse", NURSE, "bad", T0 - timedelta(days=9))]
    assert _exported(tmp_path, records) == (["night nurse"], 1)
    records = [_rating("night nurse", NURSE, "good", T0), _rating("night nurse", NURSE, "bad", T0 + timedelta(days=1))]
    assert _exported(tmp_path, records) == ([], 1)


def test_drift_checks_only_matches_whose_newest_verdict_is_good():
    def entry(query, answer, score, days, corpus="health"):
        return SimpleNamespace(query=query, answer=answer, corpus=corpus, score=score, ts=T0 + timedelta(days=days))

    entries = [
        entry("ICU nurse", NURSE, 1.0, 0),
        entry("ICU Nurse", NURSE, -1.0, 1),  # retracted
        entry("teeth", HYGIENIST, 1.0, 0),
        entry("teeth", HYGIENIST, -1.0, 1),
        entry("teeth", HYGIENIST, 1.0, 2),  # good again
        entry("teeth", HYGIENIST, 1.0, 0, corpus="other"),  # a corpus not checked
    ]
    checked = recorded_matches(entries, ["health"])
    assert [(e.query, e.answer, e.ts) for e in checked] == [("teeth", HYGIENIST, T0 + timedelta(days=2))]


def test_rate_good_then_bad_exports_nothing(rating_home, tmp_path):
    invoke_cli("rate", "ICU nurse", "--corpus", "health", "--good", NURSE)
    invoke_cli("rate", "ICU nurse", "--corpus", "health", "--bad", NURSE)
    evals = tmp_path / "eval.jsonl"
    evals.write_text('{"query": "unrelated evaluation query"}\n')
    before = (rating_home / "evidence.jsonl").read_bytes()
    args = ["distill", "export", "--evidence", str(rating_home / "evidence.jsonl"), "--eval", str(evals)]
    out = invoke_cli(*args, "--out", str(tmp_path / "sft.jsonl")).stdout
    assert "left out 1 rating(s) a newer verdict on the same query and hit overruled" in " ".join(out.split())
    assert (tmp_path / "sft.jsonl").read_text() == ""
    assert (rating_home / "evidence.jsonl").read_bytes() == before
