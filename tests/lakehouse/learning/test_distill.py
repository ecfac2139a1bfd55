"""Distillation: versioned scorers, the contamination firewall, the SFT export."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from lakehouse.common.recordfile import InputFileError, read_records
from lakehouse.learning.distill import (
    SCORERS,
    EvalItem,
    EvidenceRecord,
    Firewall,
    UnknownScorerError,
    category_counts,
    export_sft,
    normalize,
    score,
    score_all,
)
from tests.fixtures.learning import (
    EVAL_QUERIES,
    contaminated_records,
    history_records,
    write_jsonl,
)


def test_every_result_carries_its_scorer_version():
    for version in SCORERS:
        results = score_all(history_records(1), version)
        assert {r.scorer_version for r in results} == {version}
        assert all(r.reasons for r in results)


def test_scorer_rules_per_version():
    counts_v1 = category_counts(score_all(history_records(1), "v1"))
    counts_v2 = category_counts(score_all(history_records(1), "v2"))
    assert counts_v1 == {"gold": 3, "silver": 2, "needs_review": 3, "reject": 2}
    assert counts_v2 == {"gold": 1, "silver": 3, "needs_review": 2, "reject": 4}


def test_an_unknown_scorer_version_lists_the_known_ones():
    with pytest.raises(UnknownScorerError, match=r"unknown scorer version 'v3' \(known: v1, v2\); did you mean"):
        score(history_records(1)[0], "v3")


def test_evidence_fields_are_validated():
    with pytest.raises(ValidationError, match="judge_score"):
        EvidenceRecord(query="q", answer="a", judge_score=1.5, success=True, latency_ms=1)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        EvidenceRecord(query="q", answer="a", success=True, latency_ms=1, surprise=1)


def test_records_copied_from_the_evaluation_set_never_reach_the_export(tmp_path):
    leaks = contaminated_records()
    records = history_records(1) + leaks
    firewall = Firewall.from_items([EvalItem(query=q) for q in EVAL_QUERIES])
    report = export_sft(
        records, tmp_path / "sft.jsonl", firewall=firewall, scorer_version="v1", categories=["gold", "silver"]
    )
    assert report.contaminated == len(leaks) == 3
    assert report.contaminated_by_reason == {"exact": 2, "ngram": 1}
    lines = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert len(lines) == report.written == 5
    exported_queries = [m["content"] for row in lines for m in row["messages"] if m["role"] == "user"]
    assert not any(firewall.check_text(q) for q in exported_queries)
    assert {normalize(leak.query) for leak in leaks}.isdisjoint(map(normalize, exported_queries))


def test_the_export_is_chat_messages_and_counts_every_drop(tmp_path):
    records = history_records(2)  # every record twice: the second copy is a duplicate
    report = export_sft(records, tmp_path / "out" / "sft.jsonl", firewall=Firewall([]), scorer_version="v2")
    assert report.written == 1 and report.duplicates == 1
    assert report.excluded_by_category == {"needs_review": 4, "reject": 8, "silver": 6}
    row = json.loads((tmp_path / "out" / "sft.jsonl").read_text())
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    assert row["messages"][1]["content"] == "ICU nurse for night shifts in Chicago"


def test_export_without_a_system_prompt(tmp_path):
    export_sft(history_records(1)[:1], tmp_path / "s.jsonl", firewall=Firewall([]), system_prompt=None)
    row = json.loads((tmp_path / "s.jsonl").read_text())
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]


def test_unknown_export_categories_are_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"unknown categories \['platinum'\]"):
        export_sft(history_records(1), tmp_path / "s.jsonl", firewall=Firewall([]), categories=["platinum"])
    assert not (tmp_path / "s.jsonl").exists()


def test_firewall_threshold_and_short_texts():
    firewall = Firewall(["registered nurse for pediatric intensive care unit"], n=3, threshold=0.5)
    assert firewall.check_text("Registered nurse for pediatric intensive care unit!")[0] == "exact"
    assert firewall.check_text("pediatric intensive care unit nurse")[0] == "ngram"
    assert firewall.check_text("registered nurse") is None  # shorter than n and not an exact copy
    assert firewall.check_text("truck driver for a pediatric clinic") is None
    with pytest.raises(ValueError, match="overlap threshold must be in"):
        Firewall([], threshold=0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"query": "q", "answer": "a", "success": true, "latency_ms": 1}\n{"query": "q"\n',
            r"evidence.jsonl line 2, column 14: not valid JSON \(Expecting ',' delimiter\)",
        ),
        (
            '{"query": "q", "answer": "a", "success": true, "latency_ms": "slow"}\n',
            r"evidence.jsonl line 1, field 'latency_ms': Input should be a valid number",
        ),
        ("[1, 2]\n", r"evidence.jsonl line 1: expected a JSON object, got list"),
        ("\n\n", r"evidence.jsonl: no records \(the file is empty\)"),
    ],
)
def test_bad_evidence_files_name_file_line_and_field(tmp_path, content, message):
    path = tmp_path / "evidence.jsonl"
    path.write_text(content)
    with pytest.raises(InputFileError, match=message):
        read_records(path, EvidenceRecord)
    assert path.read_text() == content


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InputFileError, match=r"nope.jsonl: no such file"):
        read_records(tmp_path / "nope.jsonl", EvidenceRecord)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40))
def test_normalize_is_idempotent(value):
    once = normalize(value)
    assert normalize(once) == once


@given(st.text(alphabet="abcXYZ 09,.!?-'\t", max_size=40))
def test_normalize_ignores_case_punctuation_and_spacing(value):
    assert normalize(value.upper() + " !? ") == normalize("  " + value.lower())


@given(
    st.lists(
        st.builds(
            EvidenceRecord,
            query=st.text(min_size=1, max_size=30),
            answer=st.text(min_size=1, max_size=30),
            judge_score=st.none() | st.floats(0, 1),
            success=st.booleans(),
            latency_ms=st.floats(0, 1e6),
            flags=st.lists(st.sampled_from(["pii", "long", "toxic"]), max_size=2),
        ),
        max_size=8,
    )
)
def test_evidence_round_trips_through_a_jsonl_file(tmp_path_factory, records):
    path = write_jsonl(tmp_path_factory.mktemp("rt") / "e.jsonl", [r.model_dump() for r in records])
    assert read_records(path, EvidenceRecord, allow_empty=True) == records
