"""`distill score` of a record with `judge_score: NaN` said "Input should be less than or equal to
1" of a value that is no number at all; it says the value must be a finite number."""

from __future__ import annotations

from tests.fixtures.cli import invoke_cli


def test_a_nan_judge_score_is_named_as_not_a_number(lh_home, tmp_path):
    path = tmp_path / "ev.jsonl"
    path.write_text(
        '{"query": "q", "answer": "a", "judge_score": 0.9, "success": true, "latency_ms": 5}\n'
        '{"query": "q", "answer": "a", "judge_score": NaN, "success": true, "latency_ms": 5}\n'
    )
    err = " ".join(invoke_cli("distill", "score", "--evidence", str(path), code=1).stderr.split())
    assert "line 2, field 'judge_score': Input should be a finite number" in err
