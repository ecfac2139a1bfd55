"""`lakehouse table` shows each snapshot's source file name as text: a file named with rich markup
(`[bold red]`) or terminal escapes (ESC [2J clears the screen) reached the terminal as such."""

from __future__ import annotations

from typer.testing import CliRunner

from flows.cli import app
from flows.cli.common import console


def test_a_hostile_source_file_name_is_shown_as_text(lh_home, tmp_path, monkeypatch):
    monkeypatch.setattr(console, "width", 300)  # made at import, as wide as that terminal was: no folding
    name = "[bold red]X\x1b[2Jevil.csv"
    path = tmp_path / name
    path.write_text("a,b\n1,x\n")
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(path), "--table", "named"]).exit_code == 0
    shown = runner.invoke(app, ["table", "named"])
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.stdout
    assert "[bold red]X\\x1b[2Jevil.csv" in shown.stdout
