"""`lakehouse examples workers` end to end: the file it writes ingests into a table that DuckDB SQL
filters by state and certification."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.cli import invoke_cli


def test_generate_ingest_and_filter_with_sql(lh_home, tmp_path):
    out = tmp_path / "workers.parquet"
    made = json.loads(
        invoke_cli("examples", "workers", "--rows", "1000", "--out", str(out), "--seed", "3", "--json").stdout
    )
    assert made["rows"] == 1000 and made["format"] == "parquet" and out.stat().st_size == made["bytes"]
    again = invoke_cli("examples", "workers", "--rows", "1000", "--out", str(tmp_path / "again.parquet"), "--seed", "3")
    assert f"sha256 {made['sha256'][:12]}" in again.stdout and "1,000 synthetic workers" in again.stdout

    ingested = json.loads(invoke_cli("ingest", str(out), "--table", "workers", "--json").stdout)
    assert ingested["status"] == "created" and ingested["rows_total"] == 1000

    query = (
        "SELECT worker_id, state, certifications FROM workers "
        "WHERE state = 'IL' AND list_contains(certifications, 'OSHA-10') ORDER BY worker_id"
    )
    rows = json.loads(invoke_cli("sql", query, "--json").stdout)["rows"]
    assert rows and all(state == "IL" and "OSHA-10" in certs for _, state, certs in rows)
    everyone = json.loads(invoke_cli("sql", "SELECT state, certifications FROM workers", "--json").stdout)["rows"]
    assert len(rows) == sum(state == "IL" and "OSHA-10" in certs for state, certs in everyone)


def test_help_says_synthetic():
    assert "SYNTHETIC" in invoke_cli("examples", "workers", "--help").stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("--rows", "10", "--out", "w.csv"), "unknown suffix '.csv'"),
        (("--rows", "10", "--out", "no/such/dir/w.parquet"), "directory no/such/dir does not exist"),
    ],
)
def test_bad_arguments_exit_1_with_a_message(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke_cli("examples", "workers", *args, code=1)
    assert message in result.stderr and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, option",
    [
        (("--rows", "10", "--seed", "-1"), "--seed"),  # numpy's "expected non-negative integer" named no option
        (("--rows", "-5"), "--rows"),  # an `error:` line, exit 1, where --seed's range was a usage error
        (("--rows", "20000001"), "--rows"),
    ],
)
def test_a_value_outside_an_options_range_is_a_usage_error(tmp_path, monkeypatch, args, option):
    monkeypatch.chdir(tmp_path)
    result = invoke_cli("examples", "workers", *args, "--out", "w.parquet", code=2)
    assert f"Invalid value for '{option}'" in result.stderr and list(tmp_path.iterdir()) == []
