"""`lakehouse pathway|distill|drift`: happy paths, and every input file missing or malformed
answered with the file and line and exit 1 (never a traceback, nothing stored)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.fixtures.cli import invoke_cli
from tests.fixtures.learning import history_records, write_jsonl


@pytest.fixture
def cli(lh_home, monkeypatch, tmp_path):
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")  # a real model that loads in under a second
    monkeypatch.chdir(tmp_path)
    return invoke_cli


def test_pathway_commands(cli, lh_home):
    first = json.loads(
        cli("pathway", "add", "placed ICU nurses in Chicago", "--meta", "state=IL", "--id", "p1", "--json").stdout
    )
    assert first["id"] == "p1" and first["metadata"] == {"state": "IL"}
    second = json.loads(cli("pathway", "revise", "p1", "placed ICU and ER nurses in Chicago", "--json").stdout)
    cli("pathway", "update", second["id"], "--meta", "owner=ana")
    cli("pathway", "add", "hired welders for a shipyard", "--id", "w1")
    assert "retired trace w1" in cli("pathway", "retire", "w1", "--reason", "filled").stdout
    history = json.loads(cli("pathway", "history", second["id"], "--json").stdout)
    assert [t["id"] for t in history["chain"]] == [second["id"], "p1"]
    hits = json.loads(cli("pathway", "search", "nurses", "--filter", "state=IL", "--json").stdout)["hits"]
    assert [h["trace"]["id"] for h in hits] == [second["id"]]
    cli("pathway", "add", "placed ER nurses in Milwaukee", "--meta", "state=WI", "--id", "m1")
    either = ["--filter", "state=IL", "--filter", "state=WI"]  # a repeated key is OR, as in `search`
    hits = json.loads(cli("pathway", "search", "nurses", *either, "--json").stdout)["hits"]
    assert {h["trace"]["id"] for h in hits} == {second["id"], "m1"}
    unfiltered = json.loads(cli("pathway", "search", "nurses", "--json").stdout)["hits"]  # was "field 'where'"
    assert {h["trace"]["id"] for h in unfiltered} == {second["id"], "m1"}
    assert "--filter 'state': expected KEY=VALUE" in cli("pathway", "search", "x", "--filter", "state", code=1).stderr
    assert "p1" in cli("pathway", "history", "p1").stdout
    errors = cli("pathway", "revise", "p1", "again", code=1).stderr
    assert f"it was revised by '{second['id']}'; use the latest version" in errors


def test_pathway_add_from_a_file_is_all_or_nothing(cli, lh_home, tmp_path):
    good = write_jsonl(tmp_path / "traces.jsonl", [{"text": "one", "id": "a"}, {"text": "two", "metadata": {"k": 1}}])
    assert "added 2 traces" in cli("pathway", "add", "--file", str(good)).stdout
    log = lh_home / "pathway.jsonl"
    before = log.read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "three"}\n{"text": "four", "colour": "red"}\n')
    err = cli("pathway", "add", "--file", str(bad), code=1).stderr
    assert "bad.jsonl line 2, field 'colour': Extra inputs are not permitted" in err
    assert "missing.jsonl: no such file" in cli("pathway", "add", "--file", "missing.jsonl", code=1).stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "five"}\n{"text": \n')
    err = cli("pathway", "add", "--file", str(broken), code=1).stderr
    assert "broken.jsonl line 2, column 10: not valid JSON (Expecting value)" in err
    assert log.read_bytes() == before
    assert "not both and not neither" in cli("pathway", "add", code=1).stderr


def test_pathway_add_from_a_file_run_twice_adds_each_trace_once(cli, lh_home, tmp_path):
    traces = write_jsonl(tmp_path / "traces.jsonl", [{"text": "one", "id": "a"}, {"text": "two"}])
    assert "added 2 traces" in cli("pathway", "add", "--file", str(traces)).stdout
    log = lh_home / "pathway.jsonl"
    before = log.read_bytes()
    again = cli("pathway", "add", "--file", str(traces)).stdout
    assert "added 0 traces" in again and "skipped 2 already in memory" in again
    assert log.read_bytes() == before


def test_a_corrupt_pathway_log_is_reported_and_the_rest_works(cli, lh_home):
    cli("pathway", "add", "first", "--id", "one")
    with open(lh_home / "pathway.jsonl", "a") as fh:
        fh.write("garbage\n")
    result = cli("pathway", "history", "one", "--json")
    assert json.loads(result.stdout)["chain"][0]["id"] == "one"
    assert "line 2: Expecting value: column 1; skipped" in result.stderr


def test_distill_score_and_export(cli, evidence_file, eval_file, tmp_path):
    scored = json.loads(cli("distill", "score", "--evidence", str(evidence_file), "--scorer", "v1", "--json").stdout)
    assert scored["counts"] == {"gold": 6, "silver": 2, "needs_review": 3, "reject": 2}
    assert {r["scorer_version"] for r in scored["results"]} == {"v1"}
    assert "gold" in cli("distill", "score", "--evidence", str(evidence_file)).stdout
    report = json.loads(
        cli(
            "distill",
            "export",
            "--evidence",
            str(evidence_file),
            "--eval",
            str(eval_file),
            "--out",
            "sft.jsonl",
            "--scorer",
            "v1",
            "--categories",
            "gold,silver",
            "--json",
        ).stdout
    )
    assert report["contaminated"] == 3 and report["written"] == 5
    assert len((tmp_path / "sft.jsonl").read_text().splitlines()) == 5
    human = cli(
        "distill",
        "export",
        "--evidence",
        str(evidence_file),
        "--eval",
        str(eval_file),
        "--out",
        "sft2.jsonl",
        "--no-system",
    ).stdout
    assert "firewall: 3 record(s) overlapping the evaluation set refused" in human


def test_drift_scorer_json_is_byte_identical_across_runs(cli, tmp_path):
    history = write_jsonl(tmp_path / "history.jsonl", [r.model_dump() for r in history_records(3)])
    first = cli("drift", "scorer", "--evidence", str(history), "--old", "v1", "--new", "v2", "--json").stdout
    second = cli("drift", "scorer", "--evidence", str(history), "--old", "v1", "--new", "v2", "--json").stdout
    assert first.encode() == second.encode()
    assert json.loads(first)["drifted"] == 12
    assert (
        "12 of 30 records change category" in cli("drift", "scorer", "--evidence", str(history), "--old", "v1").stdout
    )
    assert (
        "unknown scorer version 'v7'"
        in cli("drift", "scorer", "--evidence", str(history), "--old", "v7", code=1).stderr
    )


def test_drift_embedding_from_files(cli, tmp_path):
    rng = np.random.default_rng(5)
    np.save(tmp_path / "a.npy", rng.normal(size=(100, 4)))
    np.save(tmp_path / "b.npy", rng.normal(size=(100, 4)) + 2)
    out = json.loads(cli("drift", "embedding", "--a", "a.npy", "--b", "b.npy", "--json").stdout)
    assert out["drifted"] is True
    assert "drifted" in cli("drift", "embedding", "--a", "a.npy", "--b", "b.npy").stdout
    assert "give either `a_path` and `b_path`" in cli("drift", "embedding", "--a", "a.npy", code=1).stderr


def test_drift_playbook_bad_entry_files(cli, tmp_path):
    bad = tmp_path / "entries.jsonl"
    bad.write_text('{"query": "nurse", "answer": "29-1141.00"}\n{"query": "cook"}\n')
    err = cli("drift", "playbook", "--corpus", "occ", "--entries", str(bad), code=1).stderr
    assert "entries.jsonl line 2, field 'answer': Field required" in err


BAD_FILES = {
    "missing": (None, "no such file"),
    "malformed": (
        '{"query": "q", "answer": "a", "success": true, "latency_ms": 1}\n{oops}\n',
        "line 2, column 2: not valid JSON (Expecting property name enclosed in double quotes",
    ),
    "invalid": (
        '{"query": "q", "answer": "a", "success": true, "latency_ms": -4}\n',
        "line 1, field 'latency_ms': Input should be greater than or equal to 0",
    ),
}
COMMANDS = {
    "distill score": ["distill", "score", "--evidence", "{f}"],
    "distill export (evidence)": ["distill", "export", "--evidence", "{f}", "--eval", "{ok}", "--out", "o.jsonl"],
    "distill export (eval)": ["distill", "export", "--evidence", "{ok}", "--eval", "{f}", "--out", "o.jsonl"],
    "drift scorer": ["drift", "scorer", "--evidence", "{f}", "--old", "v1"],
    "drift playbook": ["drift", "playbook", "--corpus", "occ", "--entries", "{f}"],
    "drift embedding": ["drift", "embedding", "--a", "{f}", "--b", "{ok}"],
    "pathway add": ["pathway", "add", "--file", "{f}"],
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_names_a_bad_input_file(cli, tmp_path, evidence_file, command, kind):
    content, message = BAD_FILES[kind]
    if command == "drift embedding":
        np.save(tmp_path / "ok.npy", np.ones((3, 2)))
        ok, name = tmp_path / "ok.npy", "bad.jsonl"
        if kind != "missing":
            content, message = '{"vector": [1, 2]}\n{"vector": [1, "x"]}\n', "line 2, field 'vector'"
    elif command == "pathway add" and kind == "invalid":
        content, message = '{"text": ""}\n', "line 1, field 'text': String should have at least 1 character"
        ok, name = evidence_file, "bad.jsonl"
    elif command == "distill export (eval)" and kind == "invalid":
        content, message = '{"query": "q"}\n{"expected": ["x"]}\n', "line 2, field 'query': Field required"
        ok, name = evidence_file, "bad.jsonl"
    elif command == "drift playbook" and kind == "invalid":
        content, message = '{"query": "q", "answer": ""}\n', "line 1, field 'answer'"
        ok, name = evidence_file, "bad.jsonl"
    else:
        ok, name = evidence_file, "bad.jsonl"
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    args = [a.format(f=path, ok=ok) for a in COMMANDS[command]]
    err = cli(*args, code=1).stderr
    assert f"{path}" in err and message in err, err
    assert not (tmp_path / "o.jsonl").exists()
