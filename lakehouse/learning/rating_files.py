"""Files of historical placements to import as ratings: CSV (a header naming the columns) or JSON
lines, read into (where, raw row) pairs. The rows are checked by `ratings.record_ratings`, which names
the file, line and field of every bad one; here only what makes a file unreadable is refused."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from lakehouse.common.errors import InputFileError
from lakehouse.common.recordfile import read_json_lines
from lakehouse.common.suggest import did_you_mean

COLUMNS = ("query", "corpus", "id", "verdict", "by", "note", "ts", "rating_id")
REQUIRED_COLUMNS = ("query", "corpus", "id", "verdict")


def _read_text(path: Path) -> str:
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if not path.is_file():
        raise InputFileError(f"{path}: not a regular file")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not valid UTF-8 (byte offset {exc.start})") from exc
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _csv_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        raise InputFileError(f"{path}: no header line (columns: {', '.join(COLUMNS)})")
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        hints = "".join(did_you_mean(name, COLUMNS) for name in unknown[:1])
        raise InputFileError(
            f"{path} line 1: unknown column(s) {', '.join(map(repr, unknown))}{hints} (columns: {', '.join(COLUMNS)})"
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise InputFileError(f"{path} line 1: missing column(s) {', '.join(map(repr, missing))}")
    reader.fieldnames = header
    labels, rows = [], []
    try:
        for row in reader:
            where = f"{path} line {reader.line_num}"
            if None in row:  # more cells than the header has columns
                raise InputFileError(f"{where}: {len(row[None])} more cell(s) than the header's {len(header)} columns")
            labels.append(where)
            rows.append({k: v for k, v in row.items() if v is not None and v.strip() != ""})
    except csv.Error as exc:  # a cell past the csv module's limit (128 KiB), an unclosed quote
        raise InputFileError(f"{path} line {reader.line_num + 1}: not a CSV row: {exc}") from None  # the one it read
    return labels, rows


def read_ratings_file(path: Path | str) -> tuple[list[str], list[Any]]:
    """(where, raw row) for every rating of a CSV or JSON-lines file of placements; the rows are
    checked by `record_ratings`, which names the file, line and field of every bad one."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        labels, rows = _csv_rows(path)
    elif suffix in (".jsonl", ".ndjson", ".json"):
        parsed = read_json_lines(path)
        labels, rows = [f"{path} line {n}" for n, _ in parsed], [value for _, value in parsed]
    else:
        raise InputFileError(f"{path}: expected a .csv or .jsonl file of ratings (columns: {', '.join(COLUMNS)})")
    if not rows:
        raise InputFileError(f"{path}: no ratings (the file is empty)")
    for where, value in zip(labels, rows, strict=True):
        if not isinstance(value, dict):
            raise InputFileError(f"{where}: expected a JSON object, got {type(value).__name__}")
    if "expected" in rows[0] and not {"id", "verdict"} & rows[0].keys():  # every row would fail on 3 fields
        raise InputFileError(
            f"{labels[0]}: a lift file's row (query, expected), not a rating (columns: {', '.join(COLUMNS)}); "
            "`lakehouse lift run --train FILE` reads lift files"
        )
    return labels, rows
