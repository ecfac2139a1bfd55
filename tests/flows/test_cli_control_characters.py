"""Text a caller sent (an op's fields over HTTP, a table's cells) reaches the operator's terminal
escaped: ESC and BEL would clear the screen, retitle the window or write the clipboard."""

from __future__ import annotations

from typer.testing import CliRunner

from flows.cli import app
from lakehouse.core import Lakehouse
from lakehouse.observe.observer import ObservedOp, now_utc

runner = CliRunner()
ESCAPES = "\x1b]0;PWNED\x07\x1b[2J"


def test_sql_cells_and_column_names_are_shown_escaped(lh_home):
    shown = runner.invoke(app, ["sql", "SELECT chr(27) || '[2J' || chr(7) AS \"x\x1by\""])
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "\\x1b[2J\\x07" in shown.stdout and "x\\x1by" in shown.stdout


def test_an_op_recorded_from_outside_is_listed_escaped(lh_home):
    lh = Lakehouse()
    op = ObservedOp.build(
        ts_start=now_utc(), source="http", mode=f"m{ESCAPES}", workflow=ESCAPES, status="failed", error=ESCAPES
    )
    lh.observer.record(op)
    shown = runner.invoke(app, ["ops", "list"])
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "\\x1b" in shown.stdout  # shown escaped (the table folds long cells, so no longer text is sought)
