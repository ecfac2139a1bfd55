"""`lakehouse lift run` and `lakehouse serve --list` through the real CLI: a run on a small real
corpus, and every missing or malformed input file answered with file, line and exit code 1,
leaving nothing stored."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from flows.cli import app
from lakehouse.config import reset_settings
from tests.fixtures.lift import write_queries

QUERIES = [
    {"query": "forklift operator on nights", "expected": ["J-101"]},
    {"query": "ICU registered nurse", "expected": ["J-107"]},
    {"query": "somebody to weld stainless steel", "expected": ["J-105"]},
    {"query": "cheap flights to Denver"},
]


@pytest.fixture
def jobs_env(jobs_home, monkeypatch):
    """The CLI's settings point at the session's small `jobs` lakehouse (wordllama embeddings)."""
    monkeypatch.setenv("LH_HOME", str(jobs_home))
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")
    reset_settings()
    yield jobs_home
    reset_settings()


def _run(*args: str):
    return CliRunner().invoke(app, ["lift", "run", *args])


def test_lift_run_prints_the_report_and_writes_the_files(jobs_env, tmp_path):
    queries = write_queries(tmp_path / "q.jsonl", QUERIES)
    result = _run("--queries", str(queries), "--corpus", "jobs", "--top", "5", "--out", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["queries"] == 4 and report["out_of_domain"] == 1
    assert report["lifts"] == report["discoveries"]
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert [n for n in written if not n.startswith("playbooks-")] == [
        "lift-chart.png",
        "lift-queries.jsonl",
        "lift-report.json",
        "lift-report.md",
    ]
    assert not (jobs_env / "lift").exists()

    table = _run("--queries", str(queries), "--corpus", "jobs", "--top", "5", "--out", str(tmp_path / "again"))
    assert table.exit_code == 0, table.output
    assert "lift_rate" in table.stdout and "lift-report.md" in table.stdout


def _bad(tmp_path, name: str, content: str):
    path = tmp_path / name
    path.write_text(content)
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (lambda t: ["--queries", str(t / "missing.jsonl")], r"missing\.jsonl: no such file"),
        (
            lambda t: ["--queries", str(_bad(t, "broken.jsonl", '{"query": "welder"}\n{"query": \n'))],
            r"broken\.jsonl line 2, column 11: not valid JSON \(Expecting value\)",
        ),
        (
            lambda t: [
                "--queries",
                str(_bad(t, "field.jsonl", '{"query": "welder", "expected": ["J-104"], "weight": 2}\n')),
            ],
            r"field\.jsonl line 1, field 'weight': Extra inputs are not permitted",
        ),
        (
            lambda t: ["--queries", str(_bad(t, "type.jsonl", '{"query": 7}\n'))],
            r"type\.jsonl line 1, field 'query': Input should be a valid string",
        ),
        (
            lambda t: ["--queries", str(_bad(t, "label.jsonl", '{"query": "welder", "expected": ["J-999"]}\n'))],
            r"label\.jsonl line 1, field 'expected': id 'J-999' is in none of the corpora jobs",
        ),
        (
            lambda t: ["--train", str(_bad(t, "train.jsonl", '{"query": "welder"}\n'))],
            r"the paraphrase pass needs both --train and --test",
        ),
        (
            lambda t: [
                "--train",
                str(_bad(t, "train.jsonl", '{"query": "welder"}\n')),
                "--test",
                str(_bad(t, "test.jsonl", '{"query": "nurse", "expected": ["J-107"]}\n{"query": "cook"}\n')),
            ],
            r"test\.jsonl line 2, field 'expected': required here",
        ),
        (lambda t: [], r"give --queries FILE \(verbatim replay\) or --train FILE --test FILE"),
    ],
)
def test_bad_input_files_fail_with_file_line_and_exit_1(jobs_env, tmp_path, args, message):
    result = _run(*args(tmp_path), "--corpus", "jobs", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    assert re.search(message, " ".join(result.stderr.split())), result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # nothing written: no reports, no playbook store


def test_an_unknown_corpus_is_a_clear_error(jobs_env, tmp_path):
    queries = write_queries(tmp_path / "q.jsonl", QUERIES[:1])
    result = _run("--queries", str(queries), "--corpus", "job", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "corpus 'job' not found; did you mean 'jobs'?" in " ".join(result.stderr.split())


def test_serve_list_shows_the_deployments():
    result = CliRunner().invoke(app, ["serve", "--list", "--json"])
    assert result.exit_code == 0, result.output
    names = [d["name"] for d in json.loads(result.stdout)]
    assert names == ["drift-nightly", "playbook-lift-weekly", "run-workflow", "adapt-weekly", "tables-gc"]
