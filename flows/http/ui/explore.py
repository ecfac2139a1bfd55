"""Console page /ui/explore: the tables (schema, snapshots, a page of rows as of any snapshot) and the
corpora (their generations; promote / roll back one).

Browsing reads the library directly, as `/v1/tables` does; promote and rollback run the modes
`corpus.promote` / `corpus.rollback` through `invoke_mode` with source "ui", so each is an ObservedOp.
Errors are caught per fragment and shown in place (status 200, so HTMX swaps them in).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from flows.http.calls import lakehouse_of
from flows.http.ui import render
from flows.http.ui.session import verify_csrf
from lakehouse.data.shared_log import TABLE_PREFIX
from lakehouse.data.sql.sources import quote
from lakehouse.data.tables import DEFAULT_NAMESPACE, qualified, split_name
from lakehouse.errors import LakehouseError
from modes.context import ModeContext
from modes.invoke import invoke_mode

router = APIRouter()

PAGE_ROWS = 50
CELL_CHARS = 160  # longer values (embedding vectors, long texts) are cut; the full text is in the title


def is_internal(name: str) -> bool:
    """Tables the lakehouse keeps for itself (`lakehouse._lh_ops`, ...), labelled and listed last."""
    return name.split(".", 1)[-1].startswith(TABLE_PREFIX)


def when(iso: str | None) -> str:
    """An ISO time as `2026-12-03 17:50:01` in UTC (what people read; the pages say UTC), or ''."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.utcoffset() is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def when_ms(ms: int) -> str:
    return when(datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat())


def cell(value: Any) -> tuple[str, str]:
    """(shown text, full text) of one value: None is blank, long values are cut."""
    if value is None:
        return "", ""
    text = str(value)
    return (text[:CELL_CHARS] + "…", text) if len(text) > CELL_CHARS else (text, "")


def table_rows(request: Request) -> list[dict[str, Any]]:
    """Every table: name, rows, last snapshot time; the lakehouse's own tables last."""
    tables = lakehouse_of(request).tables
    rows = []
    for name in tables.list():
        try:
            info = tables.describe(name)
        except LakehouseError as exc:  # dropped by another process since the listing
            rows.append({"name": name, "rows": None, "updated": "", "internal": is_internal(name), "error": str(exc)})
            continue
        last = info["snapshots"][-1]["timestamp"] if info["snapshots"] else None
        rows.append({"name": name, "rows": info["rows"], "updated": when(last), "internal": is_internal(name)})
    return sorted(rows, key=lambda r: (r["internal"], r["name"]))


def table_view(request: Request, name: str) -> dict[str, Any]:
    """Schema, row count and snapshots (newest first) of one table, for explore_table.html."""
    info = lakehouse_of(request).tables.describe(name)
    snapshots = [
        {
            "id": s["snapshot_id"],
            "time": when(s["timestamp"]),
            "operation": s["operation"] or "",
            "added": s["summary"].get("added-records", ""),
            "total": s["summary"].get("total-records", ""),
            "current": s["snapshot_id"] == info["current_snapshot_id"],
        }
        for s in reversed(info["snapshots"])
    ]
    return {"table": info, "snapshots": snapshots, "internal": is_internal(info["name"])}


def table_ref(name: str) -> str:
    """`name` as SQL: bare for the default namespace (the engine's fast shared path), else `ns.name`."""
    return ".".join(quote(part) for part in table_parts(name))


def table_parts(name: str) -> tuple[str, ...]:
    namespace, table = split_name(name)
    return (table,) if namespace == DEFAULT_NAMESPACE else (namespace, table)


def rows_page(request: Request, name: str, snapshot: int | None, offset: int) -> dict[str, Any]:
    """One page of rows of `name` as of `snapshot` (None: current), for explore_rows.html."""
    lh = lakehouse_of(request)
    tbl = lh.tables.load(name)
    snap = lh.tables.snapshot(tbl, snapshot)
    total = lh.tables.row_count(snap)
    offset = max(0, min(offset, max(0, total - 1) // PAGE_ROWS * PAGE_ROWS))
    sql = f"SELECT * FROM {table_ref(name)} LIMIT {PAGE_ROWS} OFFSET {offset}"
    result = lh.sql.query(sql, snapshot=snapshot, row_cap=PAGE_ROWS)
    current = tbl.current_snapshot()
    return {
        "name": qualified(name),
        "snapshot": snapshot,
        "current": snapshot is None or (current is not None and current.snapshot_id == snapshot),
        # newest first, for the time-travel choice
        "options": [
            {
                "id": s.snapshot_id,
                "time": when_ms(s.timestamp_ms),
                "operation": s.summary.operation.value if s.summary else "",
            }
            for s in reversed(tbl.snapshots())
        ],
        "columns": result.columns,
        "rows": [[cell(v) for v in row] for row in result.rows],
        "offset": offset,
        "total": total,
        "first": offset + 1 if result.rows else 0,
        "last": offset + len(result.rows),
        "prev": offset - PAGE_ROWS if offset > 0 else None,
        "next": offset + PAGE_ROWS if offset + PAGE_ROWS < total else None,
    }


# corpora ---------------------------------------------------------------------------------------
def corpus_view(request: Request, name: str) -> dict[str, Any]:
    rows = lakehouse_of(request).corpora.generations(name)
    generations = [
        {
            **row,
            "created": when(row["created_at"]),
            "adapter_label": adapter_label(row["adapter"]),
        }
        for row in rows
    ]
    live = next((g["generation"] for g in generations if g["live"]), None)
    return {"name": name, "generations": generations, "live": live}


def adapter_label(adapter: dict[str, Any] | None) -> str:
    if adapter is None:
        return "none"
    parts = [f"{k}={adapter[k]}" for k in ("kind", "method", "lift", "pairs") if k in adapter]
    return "adapter" + (f" ({', '.join(parts)})" if parts else "")


def corpora(request: Request) -> tuple[list[dict[str, Any]], str]:
    """Every corpus with its generations, and an error message when they cannot be listed."""
    out = []
    try:
        names = [row["name"] for row in lakehouse_of(request).corpora.list()]
    except LakehouseError as exc:
        return [], str(exc)
    for name in names:
        try:
            out.append(corpus_view(request, name))
        except LakehouseError as exc:
            out.append({"name": name, "generations": [], "live": None, "error": str(exc)})
    return out, ""


def _switched(request: Request, mode: str, payload: dict[str, Any]) -> tuple[str, str]:
    """(message, error) of running corpus.promote / corpus.rollback."""
    ctx = ModeContext(lakehouse=lakehouse_of(request), source="ui", trusted_paths=False)
    try:
        out = invoke_mode(mode, payload, ctx)
    except ValidationError as exc:
        return "", f"{mode}: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    except LakehouseError as exc:
        return "", str(exc)
    verb = "promoted" if out["action"] == "promote" else "rolled back"
    if out["changed"]:
        return f"{verb}: generation {out['live']} is live (was {out['previous']})", ""
    return f"generation {out['live']} was already live; nothing changed", ""


def switch(request: Request, mode: str, payload: dict[str, Any], refused: str = "") -> HTMLResponse:
    """Run corpus.promote / corpus.rollback and re-render that corpus with the outcome (with
    `refused`, run nothing and show why)."""
    name = payload["name"]
    message, error = ("", refused) if refused else _switched(request, mode, payload)
    try:
        view = corpus_view(request, name)
    except LakehouseError as exc:
        view = {"name": name, "generations": [], "live": None, "error": str(exc)}
    return render(request, "explore_corpus.html", corpus=view, message=message, action_error=error)


# routes ------------------------------------------------------------------------------------------
@router.get("/ui/explore")
def page(request: Request, table: str | None = Query(None, max_length=300)) -> HTMLResponse:
    context: dict[str, Any] = {"selected": table}
    try:
        context["tables"], context["tables_error"] = table_rows(request), ""
    except LakehouseError as exc:
        context["tables"], context["tables_error"] = [], str(exc)
    context["corpora"], context["corpora_error"] = corpora(request)
    status = 200
    if table:
        try:
            context.update(table_view(request, table), rows=rows_page(request, table, None, 0))
        except LakehouseError as exc:
            context["view_error"], status = str(exc), 404
    return render(request, "explore.html", active="explore", title="Explore", status_code=status, **context)


@router.get("/ui/explore/table")
def table_fragment(request: Request, name: str = Query(..., max_length=300)) -> HTMLResponse:
    try:
        context = {**table_view(request, name), "rows": rows_page(request, name, None, 0)}
    except LakehouseError as exc:
        return render(request, "explore_error.html", message=str(exc))
    return render(request, "explore_table.html", **context)


@router.get("/ui/explore/rows")
def rows_fragment(
    request: Request,
    name: str = Query(..., max_length=300),
    snapshot: str = Query("", max_length=30, description="a snapshot id; empty: the current one"),
    offset: int = Query(0, ge=0),
) -> HTMLResponse:
    snapshot_id = _digits(snapshot) if snapshot.strip() else None
    if snapshot.strip() and snapshot_id is None:
        message = f"snapshot must be a snapshot id (a number), got {snapshot!r}"
        return render(request, "explore_error.html", region="rows", message=message)
    try:
        context = rows_page(request, name, snapshot_id, offset)
    except LakehouseError as exc:
        return render(request, "explore_error.html", region="rows", message=str(exc))
    return render(request, "explore_rows.html", rows=context)


def _digits(text: str) -> int | None:
    """An integer written in ASCII digits, or None: `int` also reads other scripts' digits ("१" is 1)."""
    text = text.strip()
    return int(text) if text.isascii() and text.lstrip("-").isdigit() else None


def _number(value: str, what: str) -> tuple[int | None, str]:
    """(the generation number, or why not); an empty value is none."""
    number = _digits(value)
    if number is None and value.strip():
        return None, f"{what} must be a generation number (1, 2, ...), got {value[:40]!r}"
    return number, ""


# Each form sends the live generation its page showed (`live`): a switch confirmed against a page
# that another tab or operator made stale is refused, not applied to whatever is live now.
@router.post("/ui/explore/corpus/promote", dependencies=[Depends(verify_csrf)])
def promote(
    request: Request, name: str = Form(..., max_length=200), generation: str = Form(...), live: str = Form("")
) -> HTMLResponse:
    number, seen, refused = _digits(generation), *_number(live, "live")
    if number is None:
        refused = f"generation must be a generation number (1, 2, ...), got {generation[:40]!r}"
    if refused:
        return switch(request, "corpus.promote", {"name": name}, refused=refused)
    return switch(request, "corpus.promote", {"name": name, "generation": number, "expected_live": seen})


@router.post("/ui/explore/corpus/rollback", dependencies=[Depends(verify_csrf)])
def rollback(request: Request, name: str = Form(..., max_length=200), live: str = Form("")) -> HTMLResponse:
    seen, refused = _number(live, "live")
    if refused:
        return switch(request, "corpus.rollback", {"name": name}, refused=refused)
    return switch(request, "corpus.rollback", {"name": name, "expected_live": seen})
