"""`distill export|score --out` may not replace the lakehouse's own state (playbooks, evidence,
pathway memory, the op log, the tables) nor a file the same call reads (probe B, finding 1):
the CLI is trusted to write anywhere else, and a refused write leaves every file as it was."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.cli import invoke_cli
from tests.fixtures.learning import EVAL_QUERIES, history_records, write_jsonl


@pytest.fixture
def cli(lh_home, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    return invoke_cli


@pytest.fixture
def state(lh_home):
    """The home's own logs, each holding a line that a write over it would lose."""
    lh_home.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in ("playbooks.jsonl", "evidence.jsonl", "pathway.jsonl", "ops.jsonl"):
        files[name] = lh_home / name
        files[name].write_text(json.dumps({"kept": name}) + "\n")
    (lh_home / "objects" / "_vectors" / "c").mkdir(parents=True)
    files["manifest"] = lh_home / "objects" / "_vectors" / "c" / "manifest.json"
    files["manifest"].write_text("{}")
    return files


@pytest.fixture
def inputs(tmp_path):
    evidence = write_jsonl(tmp_path / "history.jsonl", [r.model_dump() for r in history_records(1)])
    evals = write_jsonl(tmp_path / "eval.jsonl", [{"query": q, "expected": ["x"]} for q in EVAL_QUERIES])
    return evidence, evals


@pytest.mark.parametrize("name", ["playbooks.jsonl", "evidence.jsonl", "pathway.jsonl", "ops.jsonl", "manifest"])
def test_out_over_the_lakehouse_state_is_refused(cli, state, inputs, name):
    evidence, evals = inputs
    before = {key: path.read_bytes() for key, path in state.items()}
    target = str(state[name])
    export = ["distill", "export", "--evidence", str(evidence), "--eval", str(evals), "--out", target]
    err = cli(*export, code=1).stderr
    assert "would write over the lakehouse's" in " ".join(err.split()) and "name another file" in " ".join(err.split())
    cli("distill", "score", "--evidence", str(evidence), "--out", target, code=1)
    after = {key: path.read_bytes() for key, path in state.items()}
    assert after.pop("ops.jsonl").startswith(before.pop("ops.jsonl"))  # each refused call is an op of its own
    assert after == before


def test_out_through_a_link_to_the_state_is_refused(cli, state, inputs, tmp_path):
    evidence, evals = inputs
    link = tmp_path / "innocent.jsonl"
    link.symlink_to(state["playbooks.jsonl"])
    before = state["playbooks.jsonl"].read_bytes()
    err = cli("distill", "export", "--evidence", str(evidence), "--eval", str(evals), "--out", str(link), code=1).stderr
    assert "lakehouse's own state ('playbooks.jsonl' in LH_HOME)" in " ".join(err.split())
    assert state["playbooks.jsonl"].read_bytes() == before


def test_out_equal_to_an_input_is_refused(cli, state, inputs):
    evidence, evals = inputs
    kept = evidence.read_bytes(), evals.read_bytes()
    err = cli("distill", "score", "--evidence", str(evidence), "--out", str(evidence), code=1).stderr
    assert "is the file this reads as evidence_path; write the output to another file" in " ".join(err.split())
    for same in (evidence, evals):
        err = cli("distill", "export", "--evidence", str(evidence), "--eval", str(evals), "--out", str(same), code=1)
        assert "is the file this reads as" in " ".join(err.stderr.split())
    assert (evidence.read_bytes(), evals.read_bytes()) == kept


def test_out_anywhere_else_is_written(cli, state, inputs, tmp_path, lh_home):
    evidence, evals = inputs
    cli("distill", "export", "--evidence", str(evidence), "--eval", str(evals), "--out", str(tmp_path / "sft.jsonl"))
    assert (tmp_path / "sft.jsonl").read_text()
    cli("distill", "score", "--evidence", str(evidence), "--out", str(lh_home / "scored.jsonl"))
    assert (lh_home / "scored.jsonl").read_text()


@pytest.mark.parametrize("given", ["", ",", " , "])
def test_an_empty_category_list_is_refused(cli, inputs, tmp_path, given):
    evidence, evals = inputs
    out = tmp_path / "sft.jsonl"
    args = ["distill", "export", "--evidence", str(evidence), "--eval", str(evals), "--out", str(out)]
    err = " ".join(cli(*args, "--categories", given, code=1).stderr.split())
    assert "categories is empty; give at least one of gold, silver, needs_review, reject" in err
    assert not out.exists()
