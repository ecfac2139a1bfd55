"""How deeply a source file's values may nest, checked before anything parses them whole.

Arrow's JSON reader recurses once per level in C and overflows the stack (a segfault: the whole
process gone) a few ten thousand levels down; pyiceberg's schema conversion raises RecursionError
at about a thousand. Tables never need either: a value may nest `MAX_NESTING` lists and objects deep
(`MAX_JSON_DEPTH`, the same as a request body).

JSON lines are screened without parsing: a line cannot nest deeper than it has `[` and `{` bytes,
so only a line with more than `MAX_NESTING` of them is parsed here (by the json module, which
stops at Python's recursion limit instead of crashing) and measured.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from lakehouse.common.text import MAX_JSON_DEPTH, bracket_depth, json_depth
from lakehouse.data.ingest.errors import IngestError

MAX_NESTING = MAX_JSON_DEPTH
_CHUNK = 32 * 1024 * 1024


def _too_deep(depth: int | None) -> str:
    found = f"nested {depth} levels deep" if depth is not None else "nested too deeply to read"
    return f"{found}; at most {MAX_NESTING} levels of lists and objects are supported"


def check_row(path: str, row: Any, line: int | None = None) -> None:
    """IngestError naming the column whose value nests deeper than `MAX_NESTING`."""
    columns = row.items() if isinstance(row, dict) else [(None, row)]
    for column, value in columns:
        found = json_depth(value)
        if found > MAX_NESTING:
            raise IngestError(path, _too_deep(found), line=line, column=column)


def _crowded_lines(data: memoryview) -> Iterator[tuple[int, int, int]]:
    """(line number, start, end) of each line with more than MAX_NESTING opening brackets."""
    array = np.frombuffer(data, dtype=np.uint8)
    line, line_start, carried = 1, 0, 0  # the line a chunk starts in, where it starts, its openers so far
    for offset in range(0, len(array), _CHUNK):
        chunk = array[offset : offset + _CHUNK]
        ends = np.flatnonzero(chunk == ord("\n"))
        openers = np.flatnonzero((chunk == ord("[")) | (chunk == ord("{")))
        if not len(ends):
            carried += len(openers)
            continue
        before = np.searchsorted(openers, ends)  # openers before each line's end
        per_line = np.diff(before, prepend=0)
        per_line[0] += carried
        for index in np.flatnonzero(per_line > MAX_NESTING):
            start = line_start if index == 0 else offset + int(ends[index - 1]) + 1
            yield line + int(index), start, offset + int(ends[index])
        line, line_start = line + len(ends), offset + int(ends[-1]) + 1
        carried = len(openers) - int(before[-1])
    if carried > MAX_NESTING:
        yield line, line_start, len(array)


# A JSON string (escapes and all) or one bracket: strings are skipped whole, brackets counted.
def check_json_lines(path: str, data: memoryview) -> None:
    """IngestError for the first line of a JSON-lines file that nests deeper than `MAX_NESTING`;
    a crowded line that is not valid JSON is measured by its brackets outside strings."""
    for line, start, end in _crowded_lines(data):
        text = bytes(data[start:end]).decode("utf-8", "replace").lstrip("\ufeff")
        try:
            row = json.loads(text, strict=False)  # control characters in strings: as Arrow reads them
        except RecursionError:
            raise IngestError(path, _too_deep(None), line=line) from None
        except json.JSONDecodeError:
            found = bracket_depth(text)  # Arrow is laxer than json.loads
            if found > MAX_NESTING:
                raise IngestError(path, _too_deep(found), line=line) from None
            continue  # the reader names what is wrong with it
        check_row(path, row, line)


def check_schema(path: str, schema: pa.Schema) -> None:
    """IngestError for a column whose type nests deeper than `MAX_NESTING` (a Parquet file's)."""
    for field in schema:
        deepest, stack = 0, [(field.type, 0)]
        while stack:
            kind, level = stack.pop()
            if pa.types.is_nested(kind):
                level += 1
                deepest = max(deepest, level)
                stack.extend((kind.field(i).type, level) for i in range(kind.num_fields))
        if deepest > MAX_NESTING:
            raise IngestError(path, _too_deep(deepest), column=field.name)
