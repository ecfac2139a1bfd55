"""Issue 10 frictions of the CLI, each as a new user met it: a slow --help, markup that ate
brackets, a missing or default-on --json, one flag vocabulary, drift and validate semantics, and
`table nosuch` without the known tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flows.cli import app
from lakehouse.config import reset_settings
from tests.fixtures.cli import invoke_cli

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("prefect", "duckdb", "pyiceberg", "pyarrow", "torch", "litellm", "fastapi", "numpy", "scipy", "hnswlib")


def _commands(group, path=()):
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        if hasattr(command, "list_commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def _leaf_commands():
    import typer.main

    return list(_commands(typer.main.get_command(app)))


# 1. an instant CLI ------------------------------------------------------------------------------
def test_help_of_every_command_imports_no_heavy_library():
    """`lakehouse --help` and every `lakehouse <cmd> --help`, in a fresh interpreter, then sys.modules."""
    script = """
import json, sys
import typer.main
from typer.testing import CliRunner
from flows.cli import app

def commands(group, path=()):
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        yield (*path, name)
        if hasattr(command, "list_commands"):
            yield from commands(command, (*path, name))

runner = CliRunner()
codes = [runner.invoke(app, ["--help"]).exit_code]
codes += [runner.invoke(app, [*path, "--help"]).exit_code for path in commands(typer.main.get_command(app))]
print(json.dumps({"codes": sorted(set(codes)), "count": len(codes), "modules": sorted(sys.modules)}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["codes"] == [0] and report["count"] > 40
    loaded = {name.split(".")[0] for name in report["modules"]}
    assert sorted(loaded.intersection(HEAVY)) == []


def test_prefect_environment_home_matches_the_settings(tmp_path, monkeypatch):
    """flows/__init__ reads LH_HOME cheaply; it must agree with Settings (environment > TOML > default)."""
    from flows.prefect_env import home_dir
    from lakehouse.config import Settings

    config = tmp_path / "lakehouse.toml"
    config.write_text(f'home = "{tmp_path / "from-toml"}"\n')
    monkeypatch.setenv("LH_CONFIG", str(config))
    monkeypatch.delenv("LH_HOME")
    assert home_dir() == Settings().home_dir == tmp_path / "from-toml"
    monkeypatch.setenv("LH_HOME", str(tmp_path / "from-env"))
    assert home_dir() == Settings().home_dir == tmp_path / "from-env"


# 3. no markup loss ------------------------------------------------------------------------------
def test_help_keeps_brackets_and_braces():
    result = invoke_cli("workflow", "validate", "--help")
    assert "Print {file: [errors]} as JSON." in " ".join(result.stdout.split())


def test_error_messages_keep_brackets(lh_home):
    result = invoke_cli("ingest", "missing[data].csv", "--table", "t", code=1)
    assert "missing[data].csv: no such file" in result.stderr


def test_table_cells_keep_brackets(lh_home):
    result = invoke_cli("sql", "SELECT '[bold]x[/bold]' AS v, '[red]' AS w")
    assert "[bold]x[/bold]" in result.stdout and "[red]" in result.stdout


# 4. one flag vocabulary -------------------------------------------------------------------------
def test_one_flag_vocabulary():
    """--top is how many results; --top-k and --limit are gone from help; --where is SQL only."""
    for path, command in _leaf_commands():
        visible = {o for p in command.params if not getattr(p, "hidden", False) for o in p.opts}
        assert not visible & {"--top-k", "--limit", "--metadata", "--k"}, path
        if "--where" in visible:
            where = next(p for p in command.params if "--where" in p.opts)
            assert "SQL" in where.help, (path, where.help)
    pathway = dict(_leaf_commands())[("pathway", "search")]
    assert {"--top", "--filter"} <= {o for p in pathway.params for o in p.opts}


def test_old_spellings_still_work_and_say_what_to_use(lh_home):
    result = invoke_cli("ops", "list", "--limit", "1", "--json")
    assert json.loads(result.stdout) == [] and "--limit is deprecated; use --top" in result.stderr


# 5. --json everywhere, human output by default -------------------------------------------------
def test_every_command_that_prints_data_has_json():
    no_data = {("api",), ("mcp",), ("server", "start"), ("server", "stop")}  # servers: no data to print
    missing = [
        path for path, command in _leaf_commands() if path not in no_data and "--json" not in command_opts(command)
    ]
    assert missing == []
    assert "--json" in command_opts(dict(_leaf_commands())[("main",)])


def command_opts(command) -> set[str]:
    return {o for p in command.params for o in p.opts}


def test_ops_stats_is_human_by_default_and_json_on_request(lh_home):
    human = invoke_cli("ops", "stats").stdout
    assert "0 ops" in human and "log health" in human
    with pytest.raises(json.JSONDecodeError):
        json.loads(human)
    assert json.loads(invoke_cli("ops", "stats", "--json").stdout)["total"] == 0


# 6. drift semantics -----------------------------------------------------------------------------
def test_drift_embedding_refuses_a_file_compared_with_itself(lh_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "a.npy", np.random.default_rng(0).normal(size=(50, 8)))
    err = invoke_cli("drift", "embedding", "--a", "a.npy", "--b", "a.npy", code=1).stderr
    assert "same file" in err and "a.npy" in err and "no drift by construction" in err


def test_drift_embedding_warns_when_two_files_hold_the_same_vectors(lh_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    vectors = np.random.default_rng(0).normal(size=(50, 8))
    np.save(tmp_path / "a.npy", vectors)
    np.save(tmp_path / "b.npy", vectors)
    result = invoke_cli("drift", "embedding", "--a", "a.npy", "--b", "b.npy")
    assert "warning: snapshots A and B hold identical vectors" in " ".join(result.stderr.split())
    out = json.loads(invoke_cli("drift", "embedding", "--a", "a.npy", "--b", "b.npy", "--json").stdout)
    assert out["drifted"] is False and out["warnings"]


def test_drift_embedding_refuses_the_current_snapshot_compared_with_itself(lakehouse, minilm, lh_home):
    from tests.fixtures.vectors import jobs_table

    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    lakehouse.corpora.build("jobs", "jobs", ["title"], "job_id")
    current = lakehouse.corpora.manifest("jobs").corpus_snapshot_id
    err = invoke_cli("drift", "embedding", "--corpus", "jobs", "--snapshot-a", str(current), code=1).stderr
    said = " ".join(err.split())
    assert f"(--snapshot-a, --snapshot-b) are the same snapshot {current} of corpus 'jobs'" in said
    assert "(the table's snapshots: `lakehouse table corpus_jobs`)" in said


def test_drift_embedding_names_a_missing_file_not_the_same_file(lh_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = " ".join(invoke_cli("drift", "embedding", "--a", "gone.npy", "--b", "gone.npy", code=1).stderr.split())
    assert "gone.npy" in err and "same file" not in err


def test_drift_playbook_does_not_call_a_just_recorded_answer_drifted(lakehouse, minilm, lh_home):
    from tests.fixtures.vectors import jobs_table

    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    lakehouse.corpora.build("jobs", "jobs", ["title", "description"], "job_id")
    hits = json.loads(invoke_cli("search", "forklift driver", "--corpus", "jobs", "--json").stdout)["hits"]
    ranked = {h["id"] for h in hits}
    outside = next(i for i in lakehouse.tables.read_arrow("jobs").column("job_id").to_pylist() if i not in ranked)
    for answer in (hits[0]["id"], outside):  # the top hit, and one the judge picked beyond today's top
        record = ["--query", "forklift driver", "--answer", answer, "--corpus", "jobs", "--score", "1"]
        invoke_cli("playbook", "record", *record)
    out = json.loads(invoke_cli("drift", "playbook", "--corpus", "jobs", "--top", "3", "--json").stdout)
    assert (out["checked"], out["drifted"], out["not_ranked"]) == (2, 0, 1)
    assert out["not_ranked_entries"][0]["answer"] == outside
    assert "never in it" in invoke_cli("drift", "playbook", "--corpus", "jobs", "--top", "3").stdout


# 7. workflow validate checks the model tier -----------------------------------------------------
def test_validate_reports_an_unconfigured_model_tier(lh_home, tmp_path, monkeypatch):
    monkeypatch.setenv("LH_MODELS", json.dumps({"tiers": {"local_judge": {"model": "openai/x"}}}))
    reset_settings()
    flow = tmp_path / "chat.yaml"
    flow.write_text(
        "name: chat\nnodes:\n"
        "  - id: ask\n    prompt: hello\n    model: local_judg\n"
        "  - id: direct\n    prompt: hello\n    model: ollama_chat/llama3.2\n"
        "  - id: tier\n    prompt: hello\n    model: local_judge\n"
    )
    err = invoke_cli("workflow", "validate", str(flow), code=1).stderr
    assert f"{flow}:ask: model: model tier 'local_judg' is not configured" in err
    assert "tiers in [models.tiers]: local_judge" in err and "did you mean 'local_judge'?" in err
    assert ":direct:" not in err and ":tier:" not in err
    reset_settings()


# 8. table nosuch lists the known tables ---------------------------------------------------------
def test_unknown_table_lists_the_known_tables(lakehouse):
    from tests.fixtures.vectors import jobs_table, workers_table

    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    lakehouse.tables.write_arrow("workers", workers_table(), mode="overwrite")
    err = " ".join(invoke_cli("table", "nosuch", code=1).stderr.split())
    assert "table 'nosuch' not found (known tables: lakehouse.jobs, lakehouse.workers)" in err
    err = " ".join(invoke_cli("table", "jbos", code=1).stderr.split())
    assert "did you mean 'lakehouse.jobs'?" in err and "known tables: lakehouse.jobs" in err


def test_modes_show_is_human_by_default_and_json_on_request():
    human = invoke_cli("modes", "show", "sql.query").stdout
    assert "sql.query" in human and "input" in human
    with pytest.raises(json.JSONDecodeError):
        json.loads(human)
    assert json.loads(invoke_cli("modes", "show", "sql.query", "--json").stdout)["name"] == "sql.query"


# 9. `main` shows rows embedded of total -------------------------------------------------------
def test_embedding_progress_reaches_the_cli_from_a_workflow_node(prefect_server, lakehouse, minilm, lh_home):
    """`lakehouse main` sets the corpus PROGRESS hook; a corpus.build node run by Prefect reports to it."""
    from flows.loader import load_workflow_text
    from flows.runner import run_workflow
    from modes.catalog.corpus import PROGRESS
    from tests.fixtures.vectors import jobs_table

    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    text = (
        "name: build\nnodes:\n  - id: corpus\n    mode: corpus.build\n"
        "    with: {name: jobs, table: jobs, text_cols: [title], id_col: job_id}\n"
    )
    calls: list[tuple[str, int, int]] = []
    token = PROGRESS.set(lambda stage, done, total: calls.append((stage, done, total)))
    try:
        result = run_workflow(load_workflow_text(text), trusted_paths=True)
    finally:
        PROGRESS.reset(token)
    assert result.status == "completed"
    # (stage, done, total); total counts the texts not already in the session's embedding cache
    assert calls and {stage for stage, _, _ in calls} == {"embedding"}
    assert calls[-1][1] == calls[-1][2] <= 16
