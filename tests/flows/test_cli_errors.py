"""The one CLI error policy (flows/cli/common.py): every command group that used to have its own
(`corpus`/`search`, `table`/`sql`, `pathway`/`drift`, `lift`) prints `error: <message>` on stderr,
text intact, and exits with the code of the error's kind; the corpus commands leave an audit row."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from flows.cli import app
from lakehouse.config import reset_settings
from lakehouse.core import Lakehouse
from tests.fixtures.learning import history_records, write_jsonl
from tests.fixtures.lift import write_queries
from tests.fixtures.vectors import jobs_table


def run(*args: str, code: int, env: dict[str, str] | None = None):
    result = CliRunner().invoke(app, list(args), env=env)
    assert "Traceback" not in result.output + result.stderr
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


@pytest.fixture
def home(lh_home, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    return lh_home


# corpus / search: not found (exit 1), unavailable (exit 2) ------------------------------------
def test_an_unknown_corpus_is_not_found_exit_1(home):
    err = run("corpus", "show", "nope", code=1).stderr
    assert err.startswith("error: corpus 'nope' not found"), err


def test_an_unavailable_object_store_exits_2_with_its_message(home, monkeypatch):
    monkeypatch.setenv("LH_OBJECTS_URL", "ftp://nowhere/x")
    reset_settings()
    err = run("corpus", "list", code=2).stderr  # was exit 1, as if the user had typed something wrong
    assert "error: unsupported object store URL 'ftp://nowhere/x': scheme 'ftp'" in " ".join(err.split()), err


def test_an_unexpected_error_names_its_type_exits_2_and_shows_a_traceback_only_with_lh_debug(home, monkeypatch):
    from lakehouse.search.vectors.corpus import CorpusManager

    def broken(self):
        raise OSError("disk [sda] gone")

    monkeypatch.setattr(CorpusManager, "list", broken)
    assert run("corpus", "list", code=2).stderr == "error: OSError: disk [sda] gone\n"
    debug = CliRunner().invoke(app, ["corpus", "list"], env={"LH_DEBUG": "1"})
    assert isinstance(debug.exception, OSError)


def test_corpus_commands_run_through_invoke_mode_and_leave_an_observed_op(home):
    Lakehouse().tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    build = [
        "corpus",
        "build",
        "jobs",
        "--table",
        "jobs",
        "--text",
        "title",
        "--id-column",
        "job_id",
        "--model",
        "wordllama",
    ]
    out = json.loads(run(*build, "--json", code=0).stdout)
    assert (out["corpus"], out["status"], out["count"]) == ("jobs", "created", 16)
    assert "already exists" in run(*build, code=1).stderr  # the CLI still refuses to build over a corpus
    assert json.loads(run("corpus", "list", "--json", code=0).stdout)[0]["name"] == "jobs"
    run("corpus", "show", "jobs", code=0)
    run("corpus", "delete", "jobs", "--ids", "J-101", code=0)
    run("corpus", "rebuild", "jobs", code=0)
    run("corpus", "add", "jobs", code=0)
    run("corpus", "drop", "jobs", code=0)
    run("corpus", "show", "jobs", code=1)
    ops = [(op["mode"], op["status"]) for op in Lakehouse().observer.ops()]
    assert ops == [
        ("corpus.build", "completed"),
        ("corpus.build", "failed"),
        ("corpus.list", "completed"),
        ("corpus.show", "completed"),
        ("corpus.delete", "completed"),
        ("corpus.rebuild", "completed"),
        ("corpus.add", "completed"),
        ("corpus.drop", "completed"),
        ("corpus.show", "failed"),
    ]


# table / sql ---------------------------------------------------------------------------------
def test_table_and_sql_errors_exit_1_with_the_message(home):
    assert run("table", "nosuch", code=1).stderr.startswith("error: table 'nosuch' not found")
    assert "error: DROP statements are not allowed" in run("sql", "DROP TABLE t", code=1).stderr


# pathway / drift ------------------------------------------------------------------------------
def test_learning_errors_exit_by_kind_with_the_message_unquoted(home, tmp_path):
    history = write_jsonl(tmp_path / "history.jsonl", [r.model_dump() for r in history_records(1)])
    err = run("drift", "scorer", "--evidence", str(history), "--old", "v7", code=1).stderr
    assert err.startswith("error: unknown scorer version 'v7' (known: v1, v2)"), err


# lift: a bracketed message is printed whole ----------------------------------------------------
@pytest.fixture
def jobs_env(jobs_home, monkeypatch):
    monkeypatch.setenv("LH_HOME", str(jobs_home))
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")
    reset_settings()
    yield jobs_home
    reset_settings()


def test_lift_prints_a_bracketed_message_intact(jobs_env, tmp_path):
    queries = write_queries(tmp_path / "q.jsonl", [{"query": "forklift operator on nights", "expected": ["J-101"]}])
    args = ["lift", "run", "--queries", str(queries), "--corpus", "jobs", "--judge", "nosuch", "--out", str(tmp_path)]
    err = " ".join(run(*args, code=1).stderr.split())
    assert "error: unknown model 'nosuch': use a tier from [models.tiers] (none configured)" in err, err


def test_an_argument_that_is_not_utf8_is_named_before_anything_runs(home):
    """A Latin-1 terminal's é reaches Python as a lone surrogate: `sql` failed with DuckDB's TypeError,
    `search` (sent to a running API) and `workflow run` with a raw UnicodeEncodeError, exit 2."""
    import subprocess
    import sys
    from pathlib import Path

    cli = str(Path(sys.executable).with_name("lakehouse"))
    for args in ([b"sql", b"select '\xe9'"], [b"search", b"caf\xe9", b"--corpus", b"occupations"]):
        done = subprocess.run([cli.encode(), *args], capture_output=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert b"is not valid UTF-8 text (byte 0xe9 at character" in done.stderr
        assert b"Traceback" not in done.stderr and not (home / "ops.jsonl").exists()


def test_a_bad_setting_is_one_error_line_without_a_traceback(home):
    """The command named the bad setting, then the shared-state flush at exit read the settings
    again and printed pydantic's traceback after it."""
    import subprocess
    import sys
    from pathlib import Path

    cli = str(Path(sys.executable).with_name("lakehouse"))
    for name, value, message in (
        ("LH_SQL_WORKERS", "0", "error: setting 'sql_workers' (LH_SQL_WORKERS or /dev/null): Input should be greater"),
        (
            "LH_SQL_WORKER_MEMORY",
            "1GB",
            "error: setting 'sql_worker_memory' (LH_SQL_WORKER_MEMORY or /dev/null): must be",
        ),
    ):
        env = {**os.environ, name: value}
        done = subprocess.run([cli, "tables"], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith(message), done.stderr
        assert "Traceback" not in done.stderr
