"""Three flags had drifted from the vocabulary (README, "Flags"): `sql --row-cap N` for what every
other command calls `--top N`; `drift scorer --history FILE` for the evidence JSONL that `distill
score|export` take as `--evidence FILE`; `corpus build --id COLUMN` (a column) while `corpus delete
--id ROW_ID` is a row. The vocabulary's names work now; the old spellings still work, hidden, and
say on stderr what to use instead."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from tests.fixtures.cli import invoke_cli
from tests.fixtures.learning import history_records, write_jsonl


def _said(result) -> str:
    return " ".join(result.stderr.split())


def test_sql_takes_top_and_row_cap_still_works_with_a_warning(lakehouse, lh_home):
    lakehouse.tables.write_arrow("three", pa.table({"n": [1, 2, 3]}), mode="overwrite")
    query = "SELECT n FROM three ORDER BY n"
    new = invoke_cli("sql", query, "--top", "2", "--json")
    assert json.loads(new.stdout)["rows"] == [[1], [2]]
    assert "deprecated" not in new.stderr
    old = invoke_cli("sql", query, "--row-cap", "2", "--json")
    assert json.loads(old.stdout) == json.loads(new.stdout)
    assert "warning: --row-cap is deprecated; use --top" in _said(old)


def test_drift_scorer_takes_evidence_as_distill_does(lh_home, tmp_path):
    evidence = write_jsonl(tmp_path / "evidence.jsonl", [r.model_dump() for r in history_records(3)])
    new = invoke_cli("drift", "scorer", "--evidence", str(evidence), "--old", "v1", "--new", "v2", "--json")
    assert json.loads(new.stdout)["drifted"] == 12
    old = invoke_cli("drift", "scorer", "--history", str(evidence), "--old", "v1", "--new", "v2", "--json")
    assert old.stdout == new.stdout
    assert "warning: --history is deprecated; use --evidence" in _said(old)
    missing = invoke_cli("drift", "scorer", "--old", "v1", code=2)
    assert "Invalid value for '--evidence': required, and not given" in _said(missing)


@pytest.fixture
def jobs(lakehouse, monkeypatch, tmp_path):
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")  # a real model that loads in under a second
    monkeypatch.chdir(tmp_path)
    lakehouse.tables.write_arrow(
        "jobs", pa.table({"job_id": ["j1", "j2"], "title": ["forklift operator", "night nurse"]}), mode="overwrite"
    )


def test_corpus_build_names_its_id_column_with_id_column(jobs, lh_home):
    new = invoke_cli("corpus", "build", "jobsnew", "--table", "jobs", "--text", "title", "--id-column", "job_id")
    assert "deprecated" not in new.stderr
    old = invoke_cli("corpus", "build", "jobsold", "--table", "jobs", "--text", "title", "--id", "job_id")
    assert "warning: --id is deprecated; use --id-column" in _said(old)
    for corpus in ("jobsnew", "jobsold"):
        hits = json.loads(invoke_cli("search", "nurse", "--corpus", corpus, "--no-relevance", "--json").stdout)
        assert sorted(h["id"] for h in hits["hits"]) == ["j1", "j2"]
    missing = invoke_cli("corpus", "build", "jobsnone", "--table", "jobs", "--text", "title", code=2)
    assert "Invalid value for '--id-column': required, and not given" in _said(missing)
