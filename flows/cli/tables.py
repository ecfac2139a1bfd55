"""`lakehouse ingest|tables|table|sql|gc`: load files into Iceberg tables, query them, and remove
the files no table references any more.

`ingest` and `sql` run through `invoke_mode`, so a CLI call leaves the same ObservedOp audit row
as a workflow node.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from flows.cli.common import console, err_console, plain, print_json
from flows.cli.flags import renamed

if TYPE_CHECKING:
    from lakehouse.core import Lakehouse


def invoke_mode(name: str, payload: dict[str, Any], context: Any) -> Any:
    from modes.invoke import invoke_mode as invoke

    return invoke(name, payload, context)


def _context(lh: Lakehouse) -> Any:
    """The mode context of a CLI command: the operator's, so paths outside the lakehouse's roots
    and gc windows under 10 minutes are allowed here (HTTP and MCP are held to both)."""
    from modes.context import ModeContext

    return ModeContext.standalone(lh, trusted_paths=True)


class SourceFormat(str, Enum):
    csv = "csv"
    tsv = "tsv"
    jsonl = "jsonl"
    parquet = "parquet"


@contextlib.contextmanager
def _lakehouse() -> Iterator[Lakehouse]:
    from lakehouse.core import Lakehouse

    lh = Lakehouse()
    try:  # errors: the one CLI policy (flows/cli/common.py)
        yield lh
    finally:
        lh.close()


@contextlib.contextmanager
def _progress_bar(path: Path, enabled: bool) -> Iterator[None]:
    """A rich progress bar fed by ingest's progress hook, for big files on a terminal."""
    from lakehouse.data.ingest import PROGRESS, PROGRESS_MIN_BYTES

    if not enabled or not path.is_file() or path.stat().st_size < PROGRESS_MIN_BYTES:
        yield
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(f"ingest {path.name}", total=1.0)
        token = PROGRESS.set(
            lambda stage, fraction: bar.update(task, completed=fraction, description=f"{path.name}: {stage}")
        )
        try:
            yield
        finally:
            PROGRESS.reset(token)


def _cell(value: Any) -> str:
    return "NULL" if value is None else plain(value)


def ingest(
    file: Path = typer.Argument(..., help="CSV, TSV, JSON-lines or Parquet file to load."),
    table: str = typer.Option(..., "--table", "-t", help="Target table: `name` or `namespace.name`."),
    key: Optional[str] = typer.Option(
        None,
        "--key",
        help="Upsert on this column: incoming rows replace rows with the same key "
        "(columns the file lacks keep their values).",
    ),
    fmt: Optional[SourceFormat] = typer.Option(
        None, "--format", help="Source format (default: from the extension, else sniffed)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the ingest result as JSON."),
) -> None:
    """Load FILE into an Iceberg table: create, append, or upsert with --key. Re-ingesting the same
    content is reported as already ingested and writes nothing (with --key: while the table still
    holds its rows as the file says; a later upsert that changed them is undone), while the snapshot
    that ingested it is one the table keeps (the newest 100 by default; older ones expire)."""
    payload = {"path": str(file), "table": table, "key": key, "format": fmt.value if fmt else None}
    # the bar only on a terminal: elsewhere rich wrote an empty line to stderr for every big file
    with _lakehouse() as lh, _progress_bar(file, enabled=not json_out and err_console.is_terminal):
        before = _snapshot_ids(lh, table)
        try:
            result = invoke_mode("ingest", payload, _context(lh))
        except KeyboardInterrupt:
            _interrupted(lh, table, file, before)
    if json_out:
        print_json(result)
        return
    if result["status"] == "nothing_to_write":
        console.print(
            f"[bold]{result['table']}[/]: nothing to write: the file has no rows; "
            f"{result['rows_total']} rows total, snapshot {result['snapshot_id']}",
            highlight=False,
        )
        return
    extra = ""
    if result["status"] == "upserted":
        extra = f" ({result['rows_updated']} updated, {result['rows_inserted']} new)"
    console.print(
        f"[bold]{result['table']}[/]: {result['status'].replace('_', ' ')}{extra}; "
        f"{result['rows_in']} rows in, {result['rows_total']} rows total, snapshot {result['snapshot_id']}",
        highlight=False,
    )


def _snapshot_ids(lh: Lakehouse, table: str) -> set[int] | None:
    """The snapshots `table` has (empty: no such table yet); None when it cannot be read."""
    from lakehouse.data.errors import TableNotFound

    try:
        return {snap.snapshot_id for snap in lh.tables.load(table).snapshots()}
    except TableNotFound:
        return set()
    except Exception:  # noqa: BLE001 - a bad name or an unreadable table: the ingest itself says what
        return None


def _interrupted(lh: Lakehouse, table: str, file: Path, before: set[int] | None) -> NoReturn:
    """Ctrl-C during an ingest: say whether the file's rows reached the table. A write whose commit
    landed before the interrupt is done (the rows are in the table, a retry says already ingested),
    so the exit code is 0, not 130: a script must not read it as an abort and write again elsewhere."""
    from lakehouse.data.table_names import qualified

    name = plain(qualified(table))
    landed = _landed_since(lh, table, file, before)
    if landed is None:
        err_console.print(
            f"interrupted: whether the write to {name} landed is not known: look at `lakehouse table {name}`",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(130)
    if not landed:
        err_console.print(f"interrupted: nothing was written to {name}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(130)
    snapshot = landed[0]
    err_console.print(
        f"interrupted after the write was committed: {name} snapshot {snapshot.snapshot_id} holds the "
        f"file's rows ({snapshot.summary.get('total-records', '?')} rows total)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    raise typer.Exit(0)


def _landed_since(lh: Lakehouse, table: str, file: Path, before: set[int] | None) -> list[Any] | None:
    """The snapshots committed since `before` that hold `file`'s content (its sha256, recorded by
    ingest); None when the table cannot tell."""
    import hashlib

    from lakehouse.data.ingested import SOURCE_SHA_KEY

    if before is None:
        return None
    try:
        after = lh.tables.load(table).snapshots() if lh.tables.exists(table) else []
        new = [s for s in after if s.snapshot_id not in before and s.summary is not None]
        if not new:
            return []
        with file.open("rb") as fh:
            sha = hashlib.file_digest(fh, "sha256").hexdigest()
    except Exception:  # noqa: BLE001 - interrupted again, or the table went: cannot tell
        return None
    return [s for s in new if s.summary.additional_properties.get(SOURCE_SHA_KEY) == sha]


def tables(json_out: bool = typer.Option(False, "--json", help="Print a JSON list of tables.")) -> None:
    """List the tables with their row counts and current snapshots (a table that cannot be read is
    listed as unreadable, with why, and the exit code is 1)."""
    from lakehouse.data.errors import TableError, TableUnreadable

    with _lakehouse() as lh:
        rows = []
        for name in lh.tables.list():
            try:
                info = lh.tables.describe(name)
            except TableUnreadable as exc:  # one broken table does not hide the others
                rows.append({"name": name, "error": str(exc)})
                continue
            except TableError as exc:  # another tool's name (`Sales-2026`) that our commands refuse
                rows.append({"name": name, "error": f"{exc} (the tool that made it can rename it)"})
                continue
            last = info["snapshots"][-1]["timestamp"] if info["snapshots"] else None
            rows.append(
                {
                    "name": name,
                    "rows": info["rows"],
                    "columns": len(info["schema"]),
                    "snapshots": len(info["snapshots"]),
                    "current_snapshot_id": info["current_snapshot_id"],
                    "updated": last,
                }
            )
    broken = [r for r in rows if "error" in r]
    if json_out:
        print_json(rows)
        raise typer.Exit(1 if broken else 0)
    view = Table(title=f"tables ({len(rows)})")
    for column in ("name", "rows", "columns", "snapshots", "current snapshot", "updated"):
        view.add_column(column, overflow="fold")
    for r in rows:
        if "error" in r:
            view.add_row(plain(r["name"]), "[red]unreadable[/]", "", "", "", "")
            continue
        view.add_row(
            r["name"],
            str(r["rows"]),
            str(r["columns"]),
            str(r["snapshots"]),
            _cell(r["current_snapshot_id"]),
            _cell(r["updated"]),
        )
    console.print(view)
    for r in broken:
        err_console.print(f"error: {plain(r['error'])}", highlight=False, markup=False)
    if broken:
        raise typer.Exit(1)


def table(
    name: str = typer.Argument(..., help="Table name: `name` or `namespace.name`."),
    json_out: bool = typer.Option(False, "--json", help="Print schema, snapshots and row count as JSON."),
) -> None:
    """Show one table: schema, snapshots (ids, times, operations) and row count."""
    with _lakehouse() as lh:
        info = lh.tables.describe(name)
    if json_out:
        print_json(info)
        return
    console.print(
        f"[bold]{info['name']}[/]: {info['rows']} rows, current snapshot "
        f"{info['current_snapshot_id']}\n{info['location']}",
        highlight=False,
    )
    schema = Table(title="schema")
    for column in ("id", "name", "type", "required"):
        schema.add_column(column)
    for f in info["schema"]:
        schema.add_row(str(f["id"]), plain(f["name"]), plain(f["type"]), "yes" if f["required"] else "no")
    console.print(schema)
    snaps = Table(title="snapshots")
    for column in ("snapshot id", "time", "operation", "added rows", "total rows", "source"):
        snaps.add_column(column, overflow="fold")
    for s in info["snapshots"]:
        summary = s["summary"]
        snaps.add_row(
            str(s["snapshot_id"]),
            s["timestamp"],
            _cell(s["operation"]),
            _cell(summary.get("added-records")),
            _cell(summary.get("total-records")),
            plain(summary.get("lakehouse.source-file", "")),  # a file name may hold markup or ESC
        )
    console.print(snaps)


def sql(
    query: str = typer.Argument(..., help='One read-only statement, e.g. "SELECT count(*) FROM my_table".'),
    snapshot: Optional[int] = typer.Option(
        None, "--snapshot", help="Read the table holding this snapshot id as of that snapshot."
    ),
    top: Optional[int] = typer.Option(None, "--top", min=0, help="Return at most N rows (default 10,000)."),
    row_cap_old: Optional[int] = typer.Option(None, "--row-cap", min=0, hidden=True, help="Deprecated: --top."),
    json_out: bool = typer.Option(False, "--json", help='Print {"columns": [...], "rows": [[...]]}.'),
) -> None:
    """Query the tables with DuckDB SQL (read-only: one SELECT/WITH statement, time limit, at most --top rows)."""
    payload = {"sql": query, "snapshot": snapshot, "row_cap": renamed(top, row_cap_old, "--row-cap", "--top")}
    with _lakehouse() as lh:
        result = invoke_mode("sql.query", payload, _context(lh))
    if result["truncated"]:
        err_console.print(f"[yellow]note:[/] only the first {result['row_count']} rows are shown (--top)")
    if json_out:
        print_json({"columns": result["columns"], "rows": result["rows"]})
        return
    view = Table()
    for column in result["columns"]:
        view.add_column(plain(column), overflow="fold")
    for row in result["rows"]:
        view.add_row(*[_cell(v) for v in row])
    console.print(view)


def gc(
    older_than: Optional[str] = typer.Option(
        None,
        "--older-than",
        help="Only files older than this (90s, 30m, 1h, 2d, or seconds; default 1h): younger ones may "
        "belong to a write still in flight.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; remove nothing."),
    force: bool = typer.Option(
        False, "--force", help="Allow --older-than under 10m: only when no write is running (its files would go)."
    ),
    keep_history: Optional[str] = typer.Option(
        None,
        "--keep-history",
        help="Keep the history (ops, run records, lift / drift / adapt reports) this long (1h at least; "
        "default 90d, or LH_HISTORY_KEPT_DAYS days); older history is dropped.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the gc report as JSON."),
) -> None:
    """Remove table data and metadata files under the warehouse that no table references any more
    (left by crashed or lost writes), and what killed uploads left in the object store (temp files
    of a file:// store, incomplete multipart uploads on S3) and in the inbox (the folder of an HTTP
    upload whose API was killed; your own files there stay), older than --older-than. Then drop the
    history older than --keep-history: ops in the op log, records of workflow runs (which can then no
    longer be resumed) and the report files of lift, drift and adapt runs."""
    from flows.retention import trim_history
    from lakehouse.data.table_gc import parse_duration

    keep_s = None if keep_history is None else _history_window(parse_duration(keep_history))
    with _lakehouse() as lh:
        window = None if older_than is None else parse_duration(older_than)
        payload = {"older_than": window, "dry_run": dry_run, "force": force}
        with _gc_progress(enabled=not json_out):
            result = invoke_mode("tables.gc", payload, _context(lh))
            history = trim_history(lh, keep_s, outputs_window_s=window, dry_run=dry_run)
    result["history"] = asdict(history) | {"summary": history.summary()}
    result["errors"] += history.errors
    if json_out:
        print_json(result)
    else:
        shown = result["removed"] if dry_run else result["removed"][:20]
        for f in shown:
            console.print(
                f"{'would remove' if dry_run else 'removed'} {f['path']} ({f['bytes']} bytes, {f['age_s']:.0f} s old)",
                highlight=False,
                soft_wrap=True,
            )
        if len(shown) < len(result["removed"]):
            console.print(f"... and {len(result['removed']) - len(shown)} more", highlight=False)
        console.print(result["summary"], highlight=False, soft_wrap=True)
        console.print(history.summary(), highlight=False, soft_wrap=True)
    for error in result["errors"]:
        err_console.print(f"[yellow]gc:[/] {error}", highlight=False, soft_wrap=True)
    if result["errors"]:
        raise typer.Exit(1)


def _history_window(seconds: float) -> float:
    from lakehouse.data.errors import TableError

    if seconds < 3600:
        raise TableError(f"--keep-history {seconds:g}s is under an hour: the history of runs in flight would go")
    return seconds


@contextlib.contextmanager
def _gc_progress(enabled: bool) -> Iterator[None]:
    from lakehouse.data.table_gc import GC_PROGRESS

    if not enabled or not err_console.is_terminal:
        yield
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("gc", total=1)
        token = GC_PROGRESS.set(
            lambda stage, done, total: bar.update(task, completed=done, total=max(total, 1), description=f"gc: {stage}")
        )
        try:
            yield
        finally:
            GC_PROGRESS.reset(token)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("tables")(tables)
    app.command("table")(table)
    app.command("sql")(sql)
    app.command("gc")(gc)
