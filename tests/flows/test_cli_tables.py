"""`lakehouse ingest|tables|table|sql` through typer's runner: JSON shapes, tables, clean errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.fixtures.tables import INGEST_CASES, ONET_TSV

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def home(lh_home):
    return lh_home


def test_ingest_tables_table_sql(home):
    first = run("ingest", str(ONET_TSV), "--table", "onet", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["status"] == "created" and json.loads(first.stdout)["rows_total"] == 1016
    again = run("ingest", str(ONET_TSV), "--table", "onet")
    assert again.exit_code == 0 and "already ingested" in again.stdout and "1016 rows total" in again.stdout

    listed = json.loads(run("tables", "--json").stdout)
    assert [(t["name"], t["rows"], t["snapshots"]) for t in listed] == [("lakehouse.onet", 1016, 1)]
    assert "lakehouse.onet" in run("tables").stdout

    info = json.loads(run("table", "onet", "--json").stdout)
    assert info["rows"] == 1016 and [f["name"] for f in info["schema"]][0] == "O*NET-SOC Code"
    shown = run("table", "onet")
    assert shown.exit_code == 0 and "snapshots" in shown.stdout and "append" in shown.stdout

    out = run("sql", "SELECT count(*) AS n FROM onet", "--json")
    assert out.exit_code == 0 and json.loads(out.stdout) == {"columns": ["n"], "rows": [[1016]]}
    snap = str(info["current_snapshot_id"])
    assert json.loads(run("sql", "SELECT count(*) FROM onet", "--snapshot", snap, "--json").stdout)["rows"] == [[1016]]
    pretty = run("sql", "SELECT Title FROM onet WHERE Title = 'Light Truck Drivers'")
    assert pretty.exit_code == 0 and "Light Truck Drivers" in pretty.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("sql", "DROP TABLE onet"), "DROP statements are not allowed"),
        (("sql", "SELECT * FROM read_csv('/etc/passwd')"), "table function read_csv() is not allowed"),
        (("table", "nope"), "table 'nope' not found"),
        (("ingest", str(INGEST_CASES / "ragged_row.csv"), "--table", "t"), "line 4: expected 4 fields"),
        (("ingest", "missing.csv", "--table", "t"), "missing.csv: no such file"),
        (("ingest", str(INGEST_CASES / "base.csv"), "--table", "bad name"), "bad table name 'bad name'"),
    ],
)
def test_errors_exit_1_with_a_message_and_no_traceback(home, args, message):
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output.replace("\n", " ") or message in result.output
    assert "Traceback" not in result.output


def test_format_choice_is_checked(home):
    result = run("ingest", str(INGEST_CASES / "base.csv"), "--table", "t", "--format", "xml")
    assert result.exit_code == 2 and "xml" in result.output
