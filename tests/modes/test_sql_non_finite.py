"""SQL answers NaN and infinities as the strings "NaN", "Infinity", "-Infinity": they were shown as
null, like SQL's NULL, on every surface (CLI table and --json, mode, HTTP), while `x IS NULL` was false."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from flows.cli import app
from modes.context import ModeContext
from modes.invoke import invoke_mode

QUERY = (
    "SELECT x, x IS NULL AS missing "
    "FROM (VALUES ('nan'::DOUBLE), ('inf'::DOUBLE), ('-inf'::DOUBLE), (NULL), (1.5)) t(x)"
)
EXPECTED = [["NaN", False], ["Infinity", False], ["-Infinity", False], [None, True], [1.5, False]]


def test_the_mode_answers_non_finite_numbers_as_text(lakehouse):
    out = invoke_mode("sql.query", {"sql": QUERY}, ModeContext(lakehouse=lakehouse, source="mode"))
    assert out["rows"] == EXPECTED


def test_the_cli_shows_them(lh_home):
    runner = CliRunner()
    as_json = runner.invoke(app, ["sql", QUERY, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["rows"] == EXPECTED
    shown = runner.invoke(app, ["sql", QUERY], env={"COLUMNS": "200"})
    assert all(word in shown.stdout for word in ("NaN", "Infinity", "-Infinity"))
