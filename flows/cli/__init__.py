"""`lakehouse` command line. Each area lives in its own module exposing `register(app)`."""

from __future__ import annotations

import importlib
import sys

import typer

import flows  # noqa: F401  (configures Prefect's environment first)
from flows.cli.common import LakehouseGroup

app = typer.Typer(
    name="lakehouse",
    cls=LakehouseGroup,  # the one error policy (flows/cli/common.py)
    help="Lakehouse: typed modes, YAML workflows on Prefect, Iceberg tables, DuckDB SQL, HNSW search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: rich markup would swallow bracketed text ("[...]", "{file: [errors]}") and
    # importing typer's rich help costs more than the whole --help budget.
    rich_markup_mode=None,
)


def _print_version(asked: bool) -> None:
    if asked:
        from flows.version import installed_version

        typer.echo(f"lakehouse {installed_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the installed version and exit."
    ),
) -> None:
    """Lakehouse: typed modes, YAML workflows on Prefect, Iceberg tables, DuckDB SQL, HNSW search."""


# One module per area; each exposes `register(app)`.
_COMMAND_MODULES = (
    "main_job",
    "workflow",
    "workflow_approve",
    "workflow_resume",
    "ops",
    "server",
    "modes_cmd",
    "api",
    "tables",
    "search",
    "ask",
    "corpus",
    "learning",
    "lift",
    "rate",
    "serve",
    "adapt",
    "mcp_cmd",
    "examples",
    "flush",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(f"flows.cli.{_name}").register(app)


def main() -> None:
    from flows.cli.common import check_arguments

    try:
        check_arguments(sys.argv[1:])
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    try:
        app()
    finally:
        _flush_shared_state()


def _flush_shared_state() -> None:
    """What a one-shot command recorded (ops, ratings, playbooks, pathway events) reaches the shared
    tables before the process ends, so the next search on another machine sees it (a no-op unless
    shared state is on; a failed flush is logged and retried by the next one)."""
    from flows.cli.common import EXIT_FLUSH_DONE
    from lakehouse.config import get_settings
    from lakehouse.data.shared_log import flush_quietly
    from lakehouse.errors import LakehouseError

    if EXIT_FLUSH_DONE.get():
        return
    try:
        settings = get_settings()
    except (LakehouseError, ValueError):  # pydantic's ValidationError is a ValueError
        return  # a bad configuration was already reported by the command itself
    flush_quietly(settings)
