"""Console page /ui/sql: one read-only query over the tables -> a result grid, or its rows as CSV.

Queries run the mode `sql.query` through `invoke_mode` with source "ui" (an ObservedOp each), so the
console gets exactly the guard, limits and errors of `POST /v1/sql`: a write statement is refused by
the guard and its message is shown under the editor. The grid shows at most `GRID_ROWS` rows and
says how many the query has; the CSV download runs the same query with the `sql_row_cap` limit.
"""

from __future__ import annotations

import csv
import io
import json
import re
from functools import lru_cache
from typing import Any

import duckdb
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from flows.http.calls import lakehouse_of, until_client_leaves
from flows.http.ui import render
from flows.http.ui.explore import cell, is_internal, table_parts
from flows.http.ui.session import verify_csrf
from lakehouse.data.sql.sources import quote
from lakehouse.errors import LakehouseError, http_status
from modes.context import ModeContext
from modes.invoke import invoke_mode

router = APIRouter()

GRID_ROWS = 500  # a browser grid past this is unreadable; the CSV has the rest
MAX_SQL_CHARS = 100_000
_BARE = re.compile(r"[a-z_][a-z0-9_]*")
FALLBACK_EXAMPLES = ("SELECT 42 AS answer, 'hello' AS greeting",)


def run(request: Request, sql: str, row_cap: int | None) -> dict[str, Any]:
    """The mode's answer for `sql` (LakehouseError for a refused or failing query)."""
    ctx = ModeContext(lakehouse=lakehouse_of(request), source="ui", trusted_paths=False)
    payload: dict[str, Any] = {"sql": sql} if row_cap is None else {"sql": sql, "row_cap": row_cap}
    with until_client_leaves(request):
        return invoke_mode("sql.query", payload, ctx)


def count_rows(request: Request, sql: str) -> int | None:
    """How many rows `sql` has in all, for "first N of M rows"; None when it cannot be counted
    (the count runs the query again, under the same guard and time limit)."""
    body = sql.strip().rstrip(";").strip()
    try:
        with until_client_leaves(request):
            result = lakehouse_of(request).sql.query(f"SELECT count(*) FROM (\n{body}\n) AS counted", row_cap=1)
    except LakehouseError:
        return None
    return int(result.rows[0][0]) if result.rows else None


def examples(request: Request) -> list[str]:
    """A few queries over a real table of this lakehouse, to click and run."""
    tables = lakehouse_of(request).tables
    try:
        names = [n for n in tables.list() if not is_internal(n) and not n.split(".", 1)[-1].startswith("corpus_")]
        if not names:
            return list(FALLBACK_EXAMPLES)
        name = names[0]
        ref = ".".join(plain(part) for part in table_parts(name))
        schema = tables.describe(name)["schema"]
    except LakehouseError:
        return list(FALLBACK_EXAMPLES)
    out = [f"SELECT * FROM {ref} LIMIT 20", f"SELECT count(*) AS rows FROM {ref}"]
    text_cols = [f["name"] for f in schema if f["type"] == "string"]
    if text_cols:
        col = plain(text_cols[-1])  # the first text column is often a unique name: a poor group
        out.append(f"SELECT {col}, count(*) AS n FROM {ref} GROUP BY {col} ORDER BY n DESC LIMIT 10")
    return out


@lru_cache(maxsize=1)
def reserved_words() -> frozenset[str]:
    with duckdb.connect(":memory:") as con:
        rows = con.execute("SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'")
        return frozenset(row[0].lower() for row in rows.fetchall())


def plain(identifier: str) -> str:
    """An identifier as people write it: bare when it can be, else quoted."""
    bare = _BARE.fullmatch(identifier) and identifier.lower() not in reserved_words()
    return identifier if bare else quote(identifier)


def csv_value(value: Any) -> Any:
    """Nested values as JSON, None as an empty field, the rest as the csv module writes them."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return value


@router.get("/ui/sql")
def page(request: Request, sql: str = Query("", max_length=MAX_SQL_CHARS)) -> HTMLResponse:
    settings = lakehouse_of(request).settings
    return render(
        request,
        "sql.html",
        active="sql",
        title="SQL",
        sql=sql,
        examples=examples(request),
        grid_rows=GRID_ROWS,
        row_cap=settings.sql_row_cap,
    )


@router.post("/ui/sql/run", dependencies=[Depends(verify_csrf)])
def run_fragment(request: Request, sql: str = Form("", max_length=MAX_SQL_CHARS)) -> HTMLResponse:
    try:
        result = run(request, sql, GRID_ROWS)
    except LakehouseError as exc:
        return render(request, "sql_result.html", error=str(exc), sql=sql)
    total = count_rows(request, sql) if result["truncated"] else result["row_count"]
    return render(
        request,
        "sql_result.html",
        sql=sql,
        columns=result["columns"],
        rows=[[cell(v) for v in row] for row in result["rows"]],
        shown=result["row_count"],
        total=total,
        truncated=result["truncated"],
        row_cap=lakehouse_of(request).settings.sql_row_cap,
    )


@router.get("/ui/sql/csv")
def download_csv(request: Request, sql: str = Query(..., max_length=MAX_SQL_CHARS)) -> Response:
    """The query's rows as CSV (header first), at most `sql_row_cap` of them. A GET: it changes nothing."""
    return _csv(request, sql)


@router.post("/ui/sql/csv", dependencies=[Depends(verify_csrf)])
def download_csv_posted(request: Request, sql: str = Form(..., max_length=MAX_SQL_CHARS)) -> Response:
    """The same, for the page's button: a long query in a GET's address passed the server's limit
    on a request line (about 128 KB, once URL-encoded) and the download was cancelled."""
    return _csv(request, sql)


def _csv(request: Request, sql: str) -> Response:
    try:
        result = run(request, sql, None)
    except LakehouseError as exc:
        return PlainTextResponse(f"query refused: {exc}\n", status_code=http_status(exc))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result["columns"])
    writer.writerows([csv_value(v) for v in row] for row in result["rows"])
    headers = {"Content-Disposition": 'attachment; filename="query.csv"'}
    if result["truncated"]:
        headers["X-Lakehouse-Truncated"] = f"first {result['row_count']} rows (sql_row_cap)"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
