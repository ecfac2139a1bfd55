"""Modes that load and query the lakehouse tables: `ingest` and `sql.query`."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from lakehouse.data.ingest import IngestResult, ingest_file
from modes.context import ModeContext
from modes.registry import mode


class IngestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(
        description="CSV, TSV, JSON-lines or Parquet file under LH_HOME (relative paths too), "
        "LH_HOME/inbox or an allowed root; from the CLI any file, relative to the working directory"
    )
    table: str = Field(description="`name` or `namespace.name`; bare names go to namespace `lakehouse`")
    key: str | None = Field(default=None, description="upsert on this column: incoming rows win")
    format: Literal["csv", "tsv", "jsonl", "parquet"] | None = Field(
        default=None, description="default: from the extension, else sniffed"
    )


class IngestOut(IngestResult):
    pass


class SqlQueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sql: str = Field(description="one read-only SELECT / WITH statement")
    snapshot: int | None = Field(default=None, description="read the table holding this snapshot id as of it")
    row_cap: int | None = Field(default=None, ge=0, description="at most this many rows (default 10,000)")


class SqlQueryOut(BaseModel):
    columns: list[str]
    rows: list[list[Any]] = Field(
        description='NaN and infinities are the strings "NaN", "Infinity" and "-Infinity": JSON has no such '
        "numbers, and null is SQL's NULL"
    )
    truncated: bool
    row_count: int

    @field_serializer("rows")
    def _non_finite_as_text(self, rows: list[list[Any]]) -> list[list[Any]]:
        return [
            [_NON_FINITE.get(str(v), v) if isinstance(v, float) and not math.isfinite(v) else v for v in row]
            for row in rows
        ]


_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


@mode("ingest")
def ingest(inp: IngestIn, ctx: ModeContext) -> IngestOut:
    """Load a file into an Iceberg table (create, append, or upsert on `key`); idempotent."""
    path = ctx.path(inp.path, field="path", cwd_relative=True)
    result = ingest_file(
        ctx.lakehouse.tables, path, inp.table, key=inp.key, format=inp.format, confined=not ctx.trusted_paths
    )
    return IngestOut(**result.model_dump())


@mode("sql.query")
def sql_query(inp: SqlQueryIn, ctx: ModeContext) -> SqlQueryOut:
    """Run one read-only SQL query over the tables (DuckDB); rows are capped."""
    result = ctx.lakehouse.sql.query(inp.sql, snapshot=inp.snapshot, row_cap=inp.row_cap)
    return SqlQueryOut(columns=result.columns, rows=result.rows, truncated=result.truncated, row_count=result.row_count)


class TablesGcIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    older_than: str | float | None = Field(
        default=None,
        description="only files older than this: seconds or 90s / 30m / 1h / 2d (default 1h); keeps files "
        "of writes still in flight",
    )
    dry_run: bool = Field(default=False, description="report what would be removed, remove nothing")
    force: bool = Field(
        default=False,
        description="remove with a window under 10 minutes: only when no write can be in flight (its files, "
        "not yet committed, would go and the table would be unreadable once it commits); not over HTTP or MCP",
    )


class TablesGcFile(BaseModel):
    path: str
    bytes: int
    age_s: float


class TablesGcOut(BaseModel):
    older_than_s: float
    dry_run: bool
    tables: int
    files_seen: int
    referenced: int
    kept_referenced: int
    kept_young: int
    kept_in_flight: int = Field(description="unreferenced files of tables a write is in flight to, kept")
    writes_in_flight: int = Field(description="writes in flight (their markers younger than 12 hours)")
    removed: list[TablesGcFile]
    store_temp_files: int
    warehouse_uploads: int  # incomplete multipart uploads of killed table writes (an S3 warehouse)
    upload_folders: int
    removed_count: int
    removed_bytes: int
    errors: list[str]
    summary: str


MIN_GC_WINDOW_S = 600.0  # shorter: only with `force`, which HTTP / MCP callers cannot give


@mode("tables.gc")
def tables_gc(inp: TablesGcIn, ctx: ModeContext) -> TablesGcOut:
    """Delete warehouse files no table references (left by crashed or lost writes) and the leftovers
    of killed uploads (object store temp files, incomplete S3 uploads, an inbox folder of an HTTP
    upload whose API was killed), older than a window."""
    from dataclasses import asdict

    from lakehouse.common.paths import INBOX
    from lakehouse.data.errors import StorageError, TableError
    from lakehouse.data.table_gc import GC_PROGRESS, format_duration, parse_duration

    older_than = None if inp.older_than is None else parse_duration(inp.older_than)
    if older_than is not None and older_than < MIN_GC_WINDOW_S and not inp.dry_run:
        risk = (
            f"gc: a window under {format_duration(MIN_GC_WINDOW_S)} ({format_duration(older_than)} asked) may "
            "delete the files of a write still in flight, which then commits a table nobody can read"
        )
        if not ctx.trusted_paths:
            raise TableError(f"{risk}; only the CLI or an operator's job may ask for one")
        if not inp.force:
            raise TableError(f"{risk}: stop every writer first and add --force (or try --dry-run)")
    lh = ctx.lakehouse
    store, store_error = None, None
    try:
        store = lh.store
    except StorageError as exc:  # an unreachable S3 endpoint: the tables' files are collected all the same
        store_error = f"object store {lh.settings.objects}: {exc}"
    inbox = lh.settings.home_dir / INBOX
    report = lh.tables.gc(older_than, dry_run=inp.dry_run, progress=GC_PROGRESS.get(), store=store, inbox=inbox)
    if store_error:
        report.errors.append(store_error)
    data = asdict(report)
    return TablesGcOut(**data, removed_count=len(report.removed), summary=report.summary())
