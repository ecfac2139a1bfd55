"""`lakehouse modes list|show`: the mode catalog."""

from __future__ import annotations

import typer
from rich.table import Table

from flows.cli.common import console, fail, print_json
from modes.registry import UnknownModeError, all_modes, get_mode

modes_app = typer.Typer(help="The catalog of modes a workflow node can run.", no_args_is_help=True)


@modes_app.command("list")
def list_modes(json_out: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """Every registered mode with its description."""
    rows = [{"name": s.name, "description": s.description} for s in all_modes().values()]
    if json_out:
        print_json(rows)
        return
    table = Table(title="modes")
    table.add_column("mode")
    table.add_column("description", overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["description"])
    console.print(table)


@modes_app.command("show")
def show(name: str = typer.Argument(..., help="Mode name, e.g. matrix.search.")) -> None:
    """The JSON schema of a mode's input (`with:`) and output (`$node.output`)."""
    try:
        spec = get_mode(name)
    except UnknownModeError as exc:
        fail(str(exc))
    print_json(
        {
            "name": spec.name,
            "description": spec.description,
            "input": spec.input_model.model_json_schema(),
            "output": spec.output_model.model_json_schema(),
        }
    )


def register(app: typer.Typer) -> None:
    app.add_typer(modes_app, name="modes")
