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
_SLICE = 1 << 20  # bytes read at a time when a file is walked again


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
    """Raise at the first byte that is not UTF-8, naming its line (and CSV column). Reads `data` a
    slice at a time: a copy of a big file (and its text) doubled the memory a failed ingest took."""
    pos = _first_invalid_utf8(data)
    if pos is None:
        return
    line_start = _line_start(data, pos)
    prefix = bytes(data[line_start:pos]).decode("utf-8", errors="replace")
    column = None
    if delimiter and header:
        fields_before = next(csv.reader([prefix], delimiter=delimiter), [""])
        index = max(len(fields_before) - 1, 0)
        column = header[index] if index < len(header) else f"#{index + 1}"
    raise IngestError(
        path,
        f"byte 0x{data[pos]:02x} at character {len(prefix) + 1} is not valid UTF-8; save the file as UTF-8",
        line=_count_line_ends(data, pos) + 1,
        column=column,
    )


def _first_invalid_utf8(data: memoryview) -> int | None:
    """Where the first byte that is not UTF-8 is, or None. A character cut by a slice's end is
    carried to the next slice."""
    carried = b""
    for start in range(0, len(data), _SLICE):
        piece = carried + bytes(data[start : start + _SLICE])
        try:
            piece.decode("utf-8")
            carried = b""
        except UnicodeDecodeError as exc:
            cut = exc.reason == "unexpected end of data" and exc.end == len(piece)
            if not cut or start + _SLICE >= len(data):
                return start - len(carried) + exc.start
            carried = piece[exc.start :]
    return None


def _count_line_ends(data: memoryview, end: int) -> int:
    return sum(bytes(data[start : min(start + _SLICE, end)]).count(b"\n") for start in range(0, end, _SLICE))


def _line_start(data: memoryview, pos: int) -> int:
    """The offset just after the last line end before `pos` (0 on the first line)."""
    end = pos
    while end > 0:
        start = max(end - _SLICE, 0)
        found = bytes(data[start:end]).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


class _MemoryReader(io.RawIOBase):
    """`data` as a file, read a slice at a time (io.BytesIO would copy all of it)."""

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), len(self._data) - self._pos)
        buffer[:count] = self._data[self._pos : self._pos + count]
        self._pos += count
        return count


def raw_lines(data: memoryview) -> Iterator[bytes]:
    """The bytes between LFs, as bytes(data).split(b"\\n") gives them, read a slice at a time."""
    pending: list[bytes] = []  # the start of a line no slice has ended yet (a long line: many)
    for start in range(0, len(data), _SLICE):
        piece = bytes(data[start : start + _SLICE])
        lines = piece.split(b"\n")
        if len(lines) == 1:
            pending.append(piece)
            continue
        lines[0] = b"".join([*pending, lines[0]])
        pending = [lines.pop()]
        yield from lines
    yield b"".join(pending)


def _lines(data: memoryview) -> Iterator[str]:
    """The text's lines as io.StringIO(text, newline="") gives them (ends kept: LF, CRLF or CR),
    decoded as read: a character or a CRLF cut by a read's end is joined by the text layer."""
    raw = io.BufferedReader(_MemoryReader(data), buffer_size=_SLICE)
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


# A \\uD800-\\uDFFF escape that is not half of a pair: JSON allows it, Unicode text cannot hold it.
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def check_surrogates(path: str, data: memoryview) -> None:
    """Raise at the first JSON string escape of a lone UTF-16 surrogate, naming its line."""
    if _SURROGATE_ESCAPE.search(data) is None:  # a literal's search is fast; the full pattern took 0.5 s a MB
        return
    found = _LONE_SURROGATE.search(data)  # over the memoryview: no copy of the file
    if found is None:
        return
    escape = found.group().lstrip(b"\\").decode()
    raise IngestError(
        path,
        f"the escape \\{escape} is half of a UTF-16 surrogate pair, which is not valid text",
        line=_count_line_ends(data, found.start()) + 1,
    )


def _records(
    path: str, data: memoryview, delimiter: str, quoting: Quoting, lenient: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) for every non-blank record, header included. `lenient` skips
    a quote error within one line (the fast reader takes `1,"a"b` as `a"b`) but not one that spans
    lines: that is a stray opening quote swallowing the rows after it."""
    reader = csv.reader(_lines(data), delimiter=delimiter, quoting=quoting, strict=True)
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
            column = _opened_in(data, start, delimiter, quoting, header)
            raise IngestError(
                path, f"a quoted value opened here is not closed before {until}", line=start, column=column
            ) from None
        start, last = last + 1, reader.line_num
        if row:
            header = row if header is None else header
            yield start, row


def _opened_in(data: memoryview, line: int, delimiter: str, quoting: Quoting, header: list[str] | None) -> str | None:
    """The header name of the last field on physical `line`: where its unclosed quote opened."""
    physical = next(itertools.islice(_lines(data), line - 1, None), "")
    fields = next(csv.reader([physical.rstrip("\r\n")], delimiter=delimiter, quoting=quoting), [""])
    index = len(fields) - 1
    return header[index] if header and index < len(header) else None


def check_quotes(path: str, data: memoryview, delimiter: str) -> None:
    """Raise where a quoted value runs over line ends into a quote error, which the fast reader
    accepts by merging every row up to the next quote into that value."""
    for _ in _records(path, data, delimiter, csv.QUOTE_MINIMAL, lenient=True):
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
    records = _records(path, data, delimiter, quoting)
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
        if not checks:
            continue
        batch.append((line, [row[index] for index, _, _ in checks]))  # not the row: a wide row held 20,000 times
        if len(batch) >= _BATCH:
            _check_batch(path, batch, checks, null_values)
            batch = []
    _check_batch(path, batch, checks, null_values)


def _check_batch(path, batch, checks, null_values) -> None:
    """`batch`: (line, the values of the checked columns, in the order of `checks`)."""
    for position, (_, name, target) in enumerate(checks):
        values = [None if row[position] in null_values else row[position] for _, row in batch]
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
    for number, raw in enumerate(raw_lines(data), start=1):
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
