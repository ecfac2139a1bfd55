"""`lift.run` called directly: its input model and a verbatim run on the small `jobs` corpus."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from modes.context import ModeContext
from modes.invoke import invoke_mode
from tests.fixtures.lift import write_queries


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"corpora": ["jobs"]}, "give field 'queries_path' .* or field 'train_path' and field 'test_path'"),
        ({"corpora": ["jobs"], "queries_path": "q", "train_path": "t", "test_path": "t"}, "give field 'queries_path'"),
        ({"corpora": ["jobs"], "test_path": "t"}, "needs both field 'train_path' and field 'test_path'"),
        ({"corpora": [], "queries_path": "q"}, "corpora"),
        ({"corpora": ["jobs"], "queries_path": "q", "boost": 6}, "boost"),
        ({"corpora": ["jobs"], "queries_path": "q", "judge_model": "x"}, "judge_model"),
    ],
)
def test_bad_inputs_are_refused_before_anything_runs(tmp_path, payload, message):
    ctx = ModeContext.standalone(Lakehouse(Settings(home=tmp_path)))
    with pytest.raises(ValidationError, match=message):
        invoke_mode("lift.run", payload, ctx)
    assert not (tmp_path / "lift").exists()


def test_lift_run_returns_the_report_and_the_file_paths(jobs_home, tmp_path):
    ctx = ModeContext.standalone(Lakehouse(Settings(home=jobs_home, embed_model="wordllama")))
    queries = write_queries(
        tmp_path / "q.jsonl",
        [
            {"query": "stainless TIG welding", "expected": ["J-105"]},
            {"query": "grill and saute cook", "expected": ["J-112"]},
        ],
    )
    out = invoke_mode(
        "lift.run",
        {"corpora": ["jobs"], "queries_path": str(queries), "top_k": 5, "out_dir": str(tmp_path / "out")},
        ctx,
    )
    assert out["kind"] == "verbatim" and out["report"]["queries"] == 2
    assert out["report"]["recall_at_1_warm"] == 1.0
    assert out["meta"]["judge"] == "labels" and out["meta"]["playbook_store"].startswith(str(tmp_path / "out"))
    assert set(out["paths"]) == {"json", "queries", "markdown", "chart"}
