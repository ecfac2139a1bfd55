"""Modes that load and query the lakehouse tables: `ingest` and `sql.query`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lakehouse.ingest import IngestResult, ingest_file
from modes.context import ModeContext
from modes.registry import mode


class IngestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="CSV, TSV, JSON-lines or Parquet file; relative to the working directory")
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
    row_cap: int | None = Field(default=None, ge=0, description="at most this many rows (default: sql_row_cap)")


class SqlQueryOut(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    row_count: int


@mode("ingest")
def ingest(inp: IngestIn, ctx: ModeContext) -> IngestOut:
    """Load a file into an Iceberg table (create, append, or upsert on `key`); idempotent."""
    result = ingest_file(ctx.lakehouse.tables, inp.path, inp.table, key=inp.key, format=inp.format)
    return IngestOut(**result.model_dump())


@mode("sql.query")
def sql_query(inp: SqlQueryIn, ctx: ModeContext) -> SqlQueryOut:
    """Run one read-only SQL query over the tables (DuckDB); rows are capped."""
    result = ctx.lakehouse.sql.query(inp.sql, snapshot=inp.snapshot, row_cap=inp.row_cap)
    return SqlQueryOut(
        columns=result.columns, rows=result.rows, truncated=result.truncated, row_count=result.row_count
    )
