"""Read JSON-lines input files of typed records, failing with the file, line, column and field.

Input files (evidence, evaluation sets, playbook entries, trace batches) are written by people and
other tools, so every problem is reported in terms a person can fix: `evidence.jsonl line 3,
column 12: not valid JSON (Expecting ',' delimiter)` or `evidence.jsonl line 4, field
'judge_score': Input should be a valid number`. Reading never writes anything; writing
(`atomic_text_file`) goes through a temporary file and a rename, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

from pydantic import BaseModel, ValidationError

from lakehouse.common.errors import InputFileError
from lakehouse.common.text import loads_json
from lakehouse.common.validation import format_validation_error

M = TypeVar("M", bound=BaseModel)


def read_json_lines(path: Path | str) -> list[tuple[int, Any]]:
    """(line number, parsed value) for every non-blank line; the first malformed line raises."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if not path.is_file():
        raise InputFileError(f"{path}: not a regular file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        # utf-8-sig: spreadsheet tools and Windows editors start their UTF-8 with a byte order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise InputFileError(f"{path} line {bad_line}: not valid UTF-8 (byte offset {exc.start})") from exc
    rows: list[tuple[int, Any]] = []
    # "\n" only: str.splitlines also cuts at U+2028, U+0085 and the like, which JSON strings may hold.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, loads_json(line)))
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{path} line {number}, column {exc.colno}: not valid JSON ({exc.msg})") from exc
    return rows


def read_records(path: Path | str, model: type[M], *, allow_empty: bool = False) -> list[M]:
    """Every line of a JSONL file validated as `model`; the first bad line raises InputFileError."""
    records: list[M] = []
    rows = read_json_lines(path)
    for number, value in rows:
        where = f"{path} line {number}"
        if not isinstance(value, dict):
            raise InputFileError(f"{where}: expected a JSON object, got {type(value).__name__}")
        try:
            records.append(model.model_validate(value))
        except ValidationError as exc:
            raise InputFileError(format_validation_error(exc, where)) from exc
    if not records and not allow_empty:
        raise InputFileError(f"{path}: no records (the file is empty)")
    return records


@contextmanager
def atomic_text_file(path: Path | str, newline: str | None = None) -> Iterator[TextIO]:
    """A text handle on a temporary file next to `path`, renamed over `path` when the block ends
    without an error (removed when it raises), so readers never see half a file. The temporary file
    is never opened through a symlink (the rename replaces a link at `path` itself, never its
    target)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        os.unlink(tmp)  # a stale temporary file, or a link planted there: removed, never followed
    except FileNotFoundError:
        pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        with os.fdopen(os.open(tmp, flags, 0o666), "w", encoding="utf-8", newline=newline) as fh:
            yield fh
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_lines_atomic(path: Path | str, rows: list[dict[str, Any]]) -> Path:
    """Write rows as JSONL through `atomic_text_file`."""
    with atomic_text_file(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    return Path(path)
