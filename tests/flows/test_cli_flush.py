"""`lakehouse flush`: reports per log, idempotent, says when shared state is off, refuses unknown logs."""

from __future__ import annotations

import json

import pytest

from lakehouse.config import reset_settings
from tests.fixtures.cli import invoke_cli, run_cli_process


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LH_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.db'}")
    monkeypatch.setenv("LH_WAREHOUSE_URL", (tmp_path / "wh").as_uri())
    reset_settings()
    (tmp_path / "home").mkdir()
    yield tmp_path / "home"
    reset_settings()


def test_flush_json_reports_each_log_and_a_second_flush_adds_nothing(home):
    (home / "ops.jsonl").write_text('{"op_id": "o1", "ts_start": "2026-01-01T00:00:00+00:00"}\n')
    first = {r["name"]: r for r in json.loads(invoke_cli("flush", "--json").stdout)}
    assert list(first) == ["ops", "playbooks", "pathway", "evidence"]
    assert (first["ops"]["appended"], first["ops"]["table"]) == (1, "lakehouse._lh_ops")
    second = json.loads(invoke_cli("flush", "--json", "--log", "ops").stdout)
    assert [(r["name"], r["read"], r["appended"]) for r in second] == [("ops", 0, 0)]
    assert "lakehouse._lh_ops" in invoke_cli("flush").stdout


def test_flush_says_shared_state_is_off(tmp_path, monkeypatch):
    monkeypatch.setenv("LH_HOME", str(tmp_path))
    monkeypatch.setenv("LH_SHARED_STATE", "off")
    reset_settings()
    try:
        out = invoke_cli("flush").stdout
    finally:
        reset_settings()
    assert "nothing flushed: shared state is off (LH_SHARED_STATE); `--force` flushes anyway" in out


def test_flush_refuses_an_unknown_log(home):
    result = invoke_cli("flush", "--log", "opps", code=1)
    assert "unknown shared log 'opps' (did you mean 'ops'?); the shared logs are ops, playbooks, pathway, evidence" in (
        " ".join((result.output + result.stderr).split())
    )


def test_a_one_shot_command_flushes_what_it_recorded_before_it_exits(tmp_path):
    """`lakehouse ingest` on machine A records an op; without any `flush`, machine B (another LH_HOME,
    the same catalog) reads it from `_lh_ops` right after A's process ended."""
    import os
    import subprocess
    import sys

    shared = {
        "LH_CATALOG_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
        "LH_WAREHOUSE_URL": (tmp_path / "wh").as_uri(),
        "LH_CONFIG": os.devnull,
    }
    data = tmp_path / "people.csv"
    data.write_text("id,name\n1,ada\n2,bob\n")

    def lakehouse(home: str, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")} | shared
        command = [sys.executable, "-c", "from flows.cli import main; main()", *args]
        return subprocess.run(
            command, env=env | {"LH_HOME": str(tmp_path / home)}, capture_output=True, text=True, timeout=120
        )

    ingest = lakehouse("a", "ingest", str(data), "--table", "people")
    assert ingest.returncode == 0, ingest.stderr
    seen = lakehouse("b", "sql", "--json", "SELECT mode, source FROM _lh_ops")
    assert seen.returncode == 0, seen.stderr
    assert json.loads(seen.stdout)["rows"] == [["ingest", "mode"]]


def test_a_failed_flush_at_a_commands_end_is_one_line_not_a_traceback(tmp_path):
    """Every command flushes at its end; with the warehouse unreachable that printed a 60-line
    traceback after the command's own output, on every command until the store came back."""
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "ops.jsonl").write_text('{"op_id": "o1", "ts_start": "2026-01-01T00:00:00+00:00"}\n')
    (tmp_path / "blocker").touch()  # a file where the warehouse's folder should be
    env = {
        "LH_HOME": str(tmp_path / "home"),
        "LH_CATALOG_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
        "LH_WAREHOUSE_URL": (tmp_path / "blocker" / "wh").as_uri(),
    }
    done = run_cli_process("tables", "--json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout) == [], done
    (line,) = done.stderr.splitlines()
    assert line.startswith("shared-state flush failed (NotADirectoryError: ") and "the next flush retries" in line
    assert (tmp_path / "home" / "ops.jsonl").read_text().count("o1") == 1  # kept for the next flush


def test_a_store_that_does_not_answer_stops_the_flush_at_the_first_log_and_once(moto_s3, tmp_path):
    """Each of the logs waited for the store in turn (~12 s each with S3 frozen), and `lakehouse
    flush` then ran the whole round again as its exit flush."""
    from tests.fixtures.tcp_proxy import TcpProxy

    bucket = moto_s3.new_bucket()
    proxy = TcpProxy(int(moto_s3.endpoint.rsplit(":", 1)[1]))  # never started: nothing answers there
    home = tmp_path / "home"
    home.mkdir()
    (home / "ops.jsonl").write_text('{"op_id": "o1", "ts_start": "2026-01-01T00:00:00+00:00"}\n')
    (home / "playbooks.jsonl").write_text('{"id": "p1", "query": "q", "answer": "a", "corpus": "c"}\n')
    (home / "evidence.jsonl").write_text('{"id": "e1", "query": "q"}\n')
    env = {**moto_s3.env(), "LH_S3_ENDPOINT": f"http://127.0.0.1:{proxy.port}", "LH_S3_TIMEOUT_S": "2"}
    env |= {"LH_HOME": str(home), "LH_SHARED_STATE": "on", "LH_WAREHOUSE_URL": f"s3://{bucket}/wh"}
    done = run_cli_process("flush", env=env, timeout=300)
    assert done.returncode == 2, done
    lines = done.stderr.splitlines()
    assert sum(line.startswith("could not flush shared log ") for line in lines) == 1, lines
    assert any(line.startswith("error: ") for line in lines), lines
    assert not any("shared-state flush failed" in line for line in lines), lines  # no second round at exit
