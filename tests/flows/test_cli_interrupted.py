"""Ctrl-C says which command stopped and where to see what it did. typer turned it into a silent
exit 130: an interrupted ingest printed nothing at all, though its op was recorded as failed.

The interrupt is raised by the command itself: a signal sent to a real process from the test landed,
on the loaded suite machine, during start-up or inside a library that swallowed it (two fresh-clone
runs, two different failures), which tested the machine's timing rather than the answer."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from flows.cli.common import LakehouseGroup


def test_ctrl_c_names_the_command_it_stopped():
    app = typer.Typer(cls=LakehouseGroup, name="lakehouse")

    @app.command("slow")
    def slow() -> None:
        raise KeyboardInterrupt  # where Ctrl-C lands in a command's own work

    @app.command("other")
    def other() -> None:
        pass

    result = CliRunner().invoke(app, ["slow"], prog_name="lakehouse")
    assert result.exit_code == 130
    said = " ".join(result.stderr.split())
    assert said.endswith(
        "interrupted: `lakehouse slow` stopped before it finished (Ctrl-C); a mode call it was running "
        "is recorded as failed: `lakehouse ops list`"
    ), said
