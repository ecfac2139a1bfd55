"""`lakehouse ops list|stats|sql`: the ObservedOp audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from flows.cli.common import LakehouseGroup, console, err_console, fail, plain, print_json
from flows.cli.flags import renamed

if TYPE_CHECKING:
    from lakehouse.observe.observer import Observer

ops_app = typer.Typer(
    cls=LakehouseGroup, help="Read the ObservedOp audit log (one row per node attempt).", no_args_is_help=True
)


def _observer() -> Observer:
    from lakehouse.config import get_settings
    from lakehouse.data.shared_log import SharedLog
    from lakehouse.observe.observer import Observer

    settings = get_settings()
    return Observer(settings.ops_log, ring_size=settings.ops_ring_size, shared=SharedLog.maybe(settings, "ops"))


@ops_app.command("list")
def list_ops(
    run: Optional[str] = typer.Option(None, "--run", help="Only this run id (the Prefect flow-run id)."),
    workflow: Optional[str] = typer.Option(None, "--workflow", help="Only this workflow name."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="Show the newest N ops (default 50)."),
    limit_old: Optional[int] = typer.Option(None, "--limit", min=1, hidden=True, help="Deprecated: --top."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list of op objects."),
) -> None:
    """List ops, oldest first (the newest --top of them)."""
    limit = renamed(top, limit_old, "--limit", "--top", default=50)
    observer = _observer()
    rows = observer.ops(run_id=run, workflow=workflow, limit=limit)
    if not rows and (run or workflow):  # an empty table read as "that run did nothing"
        given = (("run id", run), ("workflow", workflow))
        asked = " and ".join(f"{what} {plain(value)!r}" for what, value in given if value)
        err_console.print(f"note: no op has {asked} in {observer.path}", highlight=False, soft_wrap=True)
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"ops ({len(rows)})")
    for column in ("time", "workflow", "node", "mode", "attempt", "status", "ms", "error"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            str(r.get("ts_start", ""))[:19],
            plain(r.get("workflow")),
            plain(r.get("node_id")),
            plain(r.get("mode")),
            str(r.get("attempt")),
            plain(r.get("status")),
            f"{r.get('duration_ms', 0):.1f}",
            plain((r.get("error") or "")[:80]),
        )
    console.print(table)


@ops_app.command("stats")
def stats(json_out: bool = typer.Option(False, "--json", help="Print the stats as JSON.")) -> None:
    """Counts by status, mode and source; p50/p95 duration; log health."""
    data = _observer().stats()
    del data["ring"]  # this one-shot process's own ring, always empty here (the API's stats keep the server's)
    if json_out:
        print_json(data)
        return
    p50, p95 = data["duration_ms"]["p50"], data["duration_ms"]["p95"]
    timing = "n/a" if p50 is None else f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    console.print(f"{data['total']} ops; duration {timing}", highlight=False)
    for title in ("by_status", "by_mode", "by_source"):
        counts = data[title]
        if counts:
            table = Table(title=title.replace("_", " "), title_justify="left")
            table.add_column(title.removeprefix("by_"))
            table.add_column("ops", justify="right")
            for key, count in sorted(counts.items(), key=lambda kv: -kv[1]):
                table.add_row(plain(key), str(count))
            console.print(table)
    console.print(
        f"log health: {data['write_failures']} write failure(s), "
        f"{len(data['corrupt_lines'])} corrupt line(s), {len(data['repairs'])} repair(s)",
        highlight=False,
    )
    if data["incomplete_last_line"]:
        console.print(plain(data["incomplete_last_line"]), highlight=False, soft_wrap=True)
    if data["last_write_error"]:
        console.print(f"last write error: {plain(data['last_write_error'])}", highlight=False)


@ops_app.command("sql")
def sql(
    query: str = typer.Argument(..., help="One SELECT over the table `ops`."),
    json_out: bool = typer.Option(False, "--json", help='Print {"columns": [...], "rows": [[...]]}.'),
) -> None:
    """Query the ops log with DuckDB SQL (read-only), e.g. SELECT mode, count(*) FROM ops GROUP BY 1."""
    from lakehouse.data.errors import SqlError, SqlRejected

    try:
        columns, rows = _observer().sql(query)
    except (SqlRejected, SqlError) as exc:
        fail(str(exc).splitlines()[0])
    if json_out:
        print_json({"columns": columns, "rows": [list(r) for r in rows]})
        return
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[plain(v) for v in row])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(ops_app, name="ops")
