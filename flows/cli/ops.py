"""`lakehouse ops list|stats|sql`: the ObservedOp audit log."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from flows.cli.common import console, fail, print_json
from lakehouse.config import get_settings
from lakehouse.observe.observer import Observer

ops_app = typer.Typer(help="Read the ObservedOp audit log (one row per node attempt).", no_args_is_help=True)


def _observer() -> Observer:
    settings = get_settings()
    return Observer(settings.ops_log, ring_size=settings.ops_ring_size)


@ops_app.command("list")
def list_ops(
    run: Optional[str] = typer.Option(None, "--run", help="Only this run id (the Prefect flow-run id)."),
    workflow: Optional[str] = typer.Option(None, "--workflow", help="Only this workflow name."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show the newest N ops."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list of op objects."),
) -> None:
    """List ops, oldest first (the newest --limit of them)."""
    rows = _observer().ops(run_id=run, workflow=workflow, limit=limit)
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"ops ({len(rows)})")
    for column in ("time", "workflow", "node", "mode", "attempt", "status", "ms", "error"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            str(r.get("ts_start", ""))[:19],
            r.get("workflow") or "",
            r.get("node_id") or "",
            r.get("mode") or "",
            str(r.get("attempt")),
            r.get("status") or "",
            f"{r.get('duration_ms', 0):.1f}",
            (r.get("error") or "")[:80],
        )
    console.print(table)


@ops_app.command("stats")
def stats(json_out: bool = typer.Option(False, "--json", help="Print the stats as JSON.")) -> None:
    """Counts by status, mode and source; p50/p95 duration; log health."""
    data = _observer().stats()
    if json_out:
        print_json(data)
    else:
        console.print_json(json.dumps(data))


@ops_app.command("sql")
def sql(
    query: str = typer.Argument(..., help="One SELECT over the table `ops`."),
    json_out: bool = typer.Option(False, "--json", help='Print {"columns": [...], "rows": [[...]]}.'),
) -> None:
    """Query the ops log with DuckDB SQL (read-only), e.g. SELECT mode, count(*) FROM ops GROUP BY 1."""
    import duckdb

    from lakehouse.data.sql.guard import SqlRejected

    try:
        columns, rows = _observer().sql(query)
    except (SqlRejected, duckdb.Error) as exc:
        fail(str(exc).splitlines()[0])
    if json_out:
        print_json({"columns": columns, "rows": [list(r) for r in rows]})
        return
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[("" if v is None else str(v)) for v in row])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(ops_app, name="ops")
