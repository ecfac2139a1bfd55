"""`/v1/sql`, `/v1/ingest` (file upload) and `/v1/tables`."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile

from flows.http.calls import call_mode, lakehouse_of, mode_route
from flows.http.errors import ApiError, classify
from lakehouse.common.paths import INBOX, UPLOAD_PREFIX

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_CHARS = 120
_SUFFIX_CHARS = 16  # longer is no extension, just a name with a dot


def _upload_name(filename: str | None) -> str:
    """The uploaded file's base name made safe; its extension tells ingest the format, so a long
    name is cut before it (a .tsv cut to .t was read as CSV, its quotes as quoting)."""
    name = _SAFE_NAME.sub("_", Path(filename or "upload").name).lstrip(".")
    suffix = Path(name).suffix
    if len(name) > _NAME_CHARS and len(suffix) <= _SUFFIX_CHARS:
        return name[: _NAME_CHARS - len(suffix)] + suffix
    return name[:_NAME_CHARS] or "upload"


def build_router() -> APIRouter:
    router = APIRouter(tags=["data"])
    mode_route(router, "/v1/sql", "sql.query", summary="One read-only SELECT over the tables (DuckDB)")

    @router.get("/v1/tables", summary="The Iceberg tables")
    def list_tables(request: Request) -> dict[str, Any]:
        tables = lakehouse_of(request).tables.list()
        return {"tables": tables, "count": len(tables)}

    @router.post("/v1/ingest", summary="Upload a CSV / TSV / JSON-lines / Parquet file into a table")
    def ingest(
        request: Request,
        file: UploadFile = File(..., description="the data file; its extension names the format"),
        table: str = Form(..., min_length=1, max_length=1_024, description="target table (`name` or `namespace.name`)"),
        key: str | None = Form(None, description="merge on this column: incoming rows win (upsert)"),
        # not nullable in the schema: a multipart field cannot carry a JSON null (leave it out instead)
        format: Literal["csv", "tsv", "jsonl", "parquet"] = Form(None, description="override the format"),  # type: ignore[assignment]
    ) -> dict[str, Any]:
        """Runs mode `ingest` on the uploaded file (recorded as an ObservedOp with source `http`)."""
        inbox = lakehouse_of(request).settings.home_dir / INBOX  # uploads land here, nowhere else
        inbox.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=inbox, prefix=UPLOAD_PREFIX) as tmp:  # gc finds one a crash left
            path = Path(tmp) / _upload_name(file.filename)
            with path.open("wb") as out:
                shutil.copyfileobj(file.file, out)
            payload = {"path": str(path), "table": table, "key": key, "format": format}
            try:
                return call_mode(request, "ingest", {k: v for k, v in payload.items() if v is not None})
            except Exception as exc:
                known = classify(exc)
                if known is None:
                    raise
                # Name the file as the client knows it, not by our temporary path.
                raise ApiError(known.status, known.type, known.message.replace(tmp + "/", ""), known.details) from None

    return router
