"""`lift run --out` is checked before the run (probe B, finding 8): an existing file or a directory
that cannot be made was found only when the reports were written, after the whole cold pass,
judging and training, and answered with a raw FileExistsError / FileNotFoundError."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.cli import app
from lakehouse.config import reset_settings
from lakehouse.learning.lift.harness import LiftRun
from tests.fixtures.lift import write_queries


@pytest.fixture
def jobs_env(jobs_home, monkeypatch):
    monkeypatch.setenv("LH_HOME", str(jobs_home))
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")
    reset_settings()

    def no_run(*args, **kwargs):
        raise AssertionError("the run started before --out was checked")

    monkeypatch.setattr(LiftRun, "verbatim", no_run)
    yield jobs_home
    reset_settings()


def _lift(tmp_path, out: str):
    queries = write_queries(tmp_path / "q.jsonl", [{"query": "forklift operator", "expected": ["J-101"]}])
    return CliRunner().invoke(app, ["lift", "run", "--queries", str(queries), "--corpus", "jobs", "--out", out])


def test_an_existing_file_as_out_is_refused_before_the_run(jobs_env, tmp_path):
    taken = tmp_path / "outfile"
    taken.write_text("kept\n")
    result = _lift(tmp_path, str(taken))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.stderr.split())
    assert f"out_dir (--out) '{taken}' is a file, not a directory; name a directory" in message
    assert "nothing was run" in message
    assert taken.read_text() == "kept\n"


def test_an_out_that_cannot_be_made_is_refused_before_the_run(jobs_env, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = _lift(tmp_path, str(blocked / "reports"))
    assert result.exit_code == 1, result.output
    assert f"out_dir (--out) '{blocked / 'reports'}' cannot be made: '{blocked}' is a file" in " ".join(
        result.stderr.split()
    )
    assert blocked.read_text() == ""
