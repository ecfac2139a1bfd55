"""Find the exact line and column behind a failed fast read.

The fast readers (pyarrow) say *what* failed but not *where*. Only when they fail do we walk the
file again with Python's csv/json modules, which know line numbers, and raise an IngestError that
points at the first bad line. The happy path never pays for this.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import pyarrow as pa

from lakehouse.common.text import loads_json
from lakehouse.data.ingest.errors import IngestError

_BATCH = 20_000


@contextmanager
def fields_of_any_size() -> Iterator[None]:
    """The fast reader takes a field (or a header line) of any size; the csv module must read what it
    read. Its limit is one per process, so it is raised only while a source file is read."""
    before = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(before)


Quoting = Literal[0, 3]  # csv.QUOTE_MINIMAL, or csv.QUOTE_NONE for TSV


def type_name(t: pa.DataType) -> str:
    """How a column type reads in an error message (Iceberg's word, and a hint for dates)."""
    if pa.types.is_integer(t):
        return "long integer" if t.bit_width == 64 else "integer"
    if pa.types.is_floating(t):
        return "double" if t.bit_width == 64 else "float"
    if pa.types.is_date(t):
        return "date (YYYY-MM-DD)"
    if pa.types.is_timestamp(t):
        if t.tz:  # the same text without an offset reads as a format error unless this is said
            return "timestamp with a UTC offset (YYYY-MM-DD HH:MM:SS+00:00)"
        return "timestamp without a UTC offset (YYYY-MM-DD HH:MM:SS)"
    if pa.types.is_boolean(t):
        return "boolean (true/false)"
    return str(t)


def check_utf8(path: str, data: memoryview, delimiter: str | None = None, header: list[str] | None = None) -> None:
    """Raise at the first byte that is not UTF-8, naming its line (and CSV column)."""
    raw = bytes(data)
    try:
        raw.decode("utf-8")
        return
    except UnicodeDecodeError as exc:
        pos = exc.start
    line = raw.count(b"\n", 0, pos) + 1
    line_start = raw.rfind(b"\n", 0, pos) + 1
    prefix = raw[line_start:pos].decode("utf-8", errors="replace")
    column = None
    if delimiter and header:
        fields_before = next(csv.reader([prefix], delimiter=delimiter), [""])
        index = max(len(fields_before) - 1, 0)
        column = header[index] if index < len(header) else f"#{index + 1}"
    raise IngestError(
        path,
        f"byte 0x{raw[pos]:02x} at character {len(prefix) + 1} is not valid UTF-8; save the file as UTF-8",
        line=line,
        column=column,
    )


# A \\uD800-\\uDFFF escape that is not half of a pair: JSON allows it, Unicode text cannot hold it.
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def check_surrogates(path: str, data: memoryview) -> None:
    """Raise at the first JSON string escape of a lone UTF-16 surrogate, naming its line."""
    raw = bytes(data)
    found = _LONE_SURROGATE.search(raw)
    if found is None:
        return
    escape = found.group().lstrip(b"\\").decode()
    raise IngestError(
        path,
        f"the escape \\{escape} is half of a UTF-16 surrogate pair, which is not valid text",
        line=raw.count(b"\n", 0, found.start()) + 1,
    )


def _records(
    path: str, text: str, delimiter: str, quoting: Quoting, lenient: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) for every non-blank record, header included. `lenient` skips
    a quote error within one line (the fast reader takes `1,"a"b` as `a"b`) but not one that spans
    lines: that is a stray opening quote swallowing the rows after it."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
    header: list[str] | None = None
    last = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start, end = last + 1, reader.line_num
            unclosed = end > start or "end of data" in str(exc)
            if lenient and not unclosed:
                last = end
                continue
            if not unclosed:
                raise IngestError(path, f"malformed CSV ({exc})", line=end) from None
            until = "the end of the file" if "end of data" in str(exc) else f"line {end}"
            column = _opened_in(text, start, delimiter, quoting, header)
            raise IngestError(
                path, f"a quoted value opened here is not closed before {until}", line=start, column=column
            ) from None
        start, last = last + 1, reader.line_num
        if row:
            header = row if header is None else header
            yield start, row


def _opened_in(text: str, line: int, delimiter: str, quoting: Quoting, header: list[str] | None) -> str | None:
    """The header name of the last field on physical `line`: where its unclosed quote opened."""
    physical = next(itertools.islice(io.StringIO(text, newline=""), line - 1, None), "")
    fields = next(csv.reader([physical.rstrip("\r\n")], delimiter=delimiter, quoting=quoting), [""])
    index = len(fields) - 1
    return header[index] if header and index < len(header) else None


def check_quotes(path: str, data: memoryview, delimiter: str) -> None:
    """Raise where a quoted value runs over line ends into a quote error, which the fast reader
    accepts by merging every row up to the next quote into that value."""
    for _ in _records(path, bytes(data).decode("utf-8-sig"), delimiter, csv.QUOTE_MINIMAL, lenient=True):
        pass


def _bad_value(values: list[str | None], target: pa.DataType) -> int | None:
    """Index of the first value that does not convert to `target`, or None."""
    try:
        pa.array(values, pa.string()).cast(target, safe=True)
        return None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for i, value in enumerate(values):
        try:
            pa.array([value], pa.string()).cast(target, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return i
    return None


def diagnose_csv(
    path: str,
    data: memoryview,
    delimiter: str,
    quoting: Quoting,
    typed: dict[str, pa.DataType],
    null_values: set[str],
) -> None:
    """Raise IngestError at the first ragged row or value that does not fit its typed column."""
    text = bytes(data).decode("utf-8-sig")
    records = _records(path, text, delimiter, quoting)
    first = next(records, None)
    if first is None:
        raise IngestError(path, "the file is empty: expected a header line")
    header = first[1]
    checks = [(i, name, typed[name]) for i, name in enumerate(header) if name in typed]
    batch: list[tuple[int, list[str]]] = []
    for line, row in records:
        if len(row) != len(header):
            raise IngestError(
                path,
                f"expected {len(header)} fields like the header, found {len(row)}",
                line=line,
            )
        batch.append((line, row))
        if len(batch) >= _BATCH:
            _check_batch(path, batch, checks, null_values)
            batch = []
    _check_batch(path, batch, checks, null_values)


def _check_batch(path, batch, checks, null_values) -> None:
    for index, name, target in checks:
        values = [None if row[index] in null_values else row[index] for _, row in batch]
        bad = _bad_value(values, target)
        if bad is not None:
            raise IngestError(
                path,
                f"value {values[bad]!r} is not a valid {type_name(target)} (the table's type for this column)",
                line=batch[bad][0],
                column=name,
            )


_KINDS = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "list",
    dict: "object",
}


def json_native(t: pa.DataType) -> bool:
    """Types a JSON value maps to directly; dates and times come as text."""
    return (
        pa.types.is_integer(t)
        or pa.types.is_decimal(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_nested(t)
    )


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def diagnose_jsonl(path: str, data: memoryview, typed: dict[str, pa.DataType]) -> None:
    """Raise IngestError at the first line that is not a JSON object, whose value does not fit
    the table's column type, or whose value kind differs from earlier lines."""
    seen: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(bytes(data).split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = loads_json(raw)
        except UnicodeDecodeError:
            check_utf8(path, data)
            raise
        except json.JSONDecodeError as exc:
            raise IngestError(path, f"not valid JSON at character {exc.colno}: {exc.msg}", line=number) from None
        if not isinstance(record, dict):
            raise IngestError(path, f"expected a JSON object per line, found {_kind(record)}", line=number)
        for name, value in record.items():
            if value is None:
                continue
            if name in typed:
                target = typed[name]
                try:
                    if pa.types.is_list(target) and not pa.types.is_nested(target.value_type):
                        pa.array([value]).cast(target, safe=True)  # pa.array([[1.5]], list<int64>) makes it 1
                    elif json_native(target):
                        pa.array([value], target)
                    else:
                        pa.array([value], pa.string()).cast(target, safe=True)
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
                    raise IngestError(
                        path,
                        f"value {value!r} is not a valid {type_name(typed[name])} (the table's type for this column)",
                        line=number,
                        column=name,
                    ) from None
                continue
            kind = _kind(value)
            earlier = seen.setdefault(name, (kind, number))
            if earlier[0] != kind:
                raise IngestError(
                    path,
                    f"{kind} value {value!r}, but line {earlier[1]} has a {earlier[0]} in this column",
                    line=number,
                    column=name,
                )
