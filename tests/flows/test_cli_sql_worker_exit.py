"""`LH_SQL_ISOLATION=process` (SQL in a worker process, as the README offers for every surface):
each command's worker printed DuckDB's nanobind "leaked 28 instances!" report, ~44 lines, on the
terminal as it exited after the right answer."""

from __future__ import annotations

import json

from tests.fixtures.cli import run_cli_process


def test_a_command_whose_sql_ran_in_a_worker_ends_without_the_workers_teardown_noise(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("n\n1\n2\n")
    env = {"LH_HOME": str(tmp_path / "home"), "LH_PREFECT_AUTOSTART": "false"}
    assert run_cli_process("ingest", str(rows), "--table", "t", env=env).returncode == 0
    done = run_cli_process("sql", "SELECT sum(n) FROM t", "--json", env=env | {"LH_SQL_ISOLATION": "process"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == [[3]]
    assert done.stderr == ""
