"""Source files -> Arrow: CSV/TSV (pyarrow's multi-threaded reader), JSON lines, Parquet.

Columns the target table already has are read with the table's types, so a value that does not fit
is an error at its line rather than a silent new type. New columns are inferred, except that a CSV
column of codes stays text, whichever line holds the code (every value is looked at, as written):
- a value with leading zeros (`0000000`, `01`): a zip code or an id, not the number 1;
- in a column whose values are all whole numbers as written, a value with a leading `+` or an
  exponent (`+4917612345678`, `12E4`): a phone number or a product code. A number would lose the `+`
  and the form (`12E4` read 120000.0); a user who wanted numbers can CAST the text, while stored
  numbers cannot give back what was written. A column with fractions (`1.5e3`, `+0.5`) is numbers.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from lakehouse.common.text import loads_json
from lakehouse.config import get_settings
from lakehouse.data.ingest import diagnose, nesting
from lakehouse.data.ingest.errors import IngestError
from lakehouse.data.ingest.parquet import read_parquet
from lakehouse.data.table_schema import SchemaConflict, check_column_names

Format = Literal["csv", "tsv", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "tsv", "jsonl", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# What BLS, spreadsheets and databases write for "no value". Only non-text columns read these as
# NULL; a text column keeps the characters.
NULL_VALUES = ["", "-", "*", "**", "#", "NA", "N/A", "NULL", "null", "NaN", "nan"]
_SAMPLE_BYTES = 1 << 20
_LEADING_ZERO = r"^[+-]?0[0-9]"
_WHOLE_AS_WRITTEN = r"^[+-]?[0-9]+(?:[eE][+-]?[0-9]+)?$"
_INTEGER_AS_WRITTEN = r"^[+-]?[0-9]+$"
_CODE_MARK = r"^\+|[eE]"  # in a column of whole numbers: a phone number, a code like 12E4
# A field that starts as a code would, or a number with an exponent, anywhere in the raw bytes
_CODE_HINT = r'[{delimiter}\r\n]"?(?:[+-]?0|\+)[0-9]|[0-9][eE][+-]?[0-9]'
_HINT_SLICE = 1 << 28  # RE2 takes one value of at most 2 GiB
_WHOLE_NUMBER = pa.decimal128(38, 0)  # Iceberg's widest exact number
_SCAN_BYTES = 1 << 20  # small enough to stay in cache: a scan of 1 GB takes ~0.2 s


def detect_format(path: Path, data: memoryview, given: str | None) -> str:
    _refuse_encoded(str(path), bytes(data[:4]))
    if given is not None:
        fmt = given.lower()
        if fmt == "json":
            fmt = "jsonl"
        if fmt not in FORMATS:
            raise IngestError(str(path), f"unknown format {given!r}: use one of {', '.join(FORMATS)}")
        return fmt
    starts_parquet = bytes(data[:4]) == b"PAR1"
    if starts_parquet and bytes(data[-4:]) == b"PAR1":  # a real Parquet file ends with its magic too
        return "parquet"
    by_extension = _EXTENSIONS.get(path.suffix.lower())
    if by_extension:
        return by_extension
    if starts_parquet:
        return "parquet"
    return "jsonl" if _text_head(data)[:1] in (b"{", b"[") else "csv"


def _refuse_encoded(path: str, head: bytes) -> None:
    """Compressed or UTF-16 bytes read as text make a garbled header: say what the file is instead."""
    if head[:2] == b"\x1f\x8b" or head == b"PK\x03\x04":
        raise IngestError(path, "compressed files are not supported: decompress it first")
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise IngestError(path, f"the file looks UTF-16 (BOM {head[:2].hex(' ').upper()}): save it as UTF-8")


def _text_head(data: memoryview) -> bytes:
    """The first bytes without a UTF-8 BOM and leading white space."""
    head = bytes(data[:64])
    return head.removeprefix(b"\xef\xbb\xbf").lstrip()


def _header_and_sample(data: memoryview) -> tuple[str, str]:
    """(first line, the first ~1 MiB cut at a line end), decoded leniently for sniffing. A line
    ends at LF, CRLF or a lone CR (old Mac exports), as in the fast reader."""
    sample = bytes(data[:_SAMPLE_BYTES])
    last_end = max(sample.rfind(b"\n"), sample.rfind(b"\r"))
    if len(data) > _SAMPLE_BYTES and last_end >= 0:
        sample = sample[: last_end + 1]
    text = sample.decode("utf-8-sig", errors="replace")
    return re.split(r"[\r\n]", text, maxsplit=1)[0], text


def sniff_delimiter(first_line: str) -> str:
    """The candidate that splits the header into the most fields (quotes respected)."""
    best, best_count = ",", 1
    for candidate in (",", "\t", ";", "|"):
        count = len(next(csv.reader([first_line], delimiter=candidate), []))
        if count > best_count:
            best, best_count = candidate, count
    return best


def _parse_options(delimiter: str, quote: bool) -> pacsv.ParseOptions:
    # RFC 4180 allows line breaks inside quoted fields; costs ~20% parse speed, worth being right.
    return pacsv.ParseOptions(delimiter=delimiter, quote_char='"' if quote else False, newlines_in_values=quote)


def _code_columns(sample: str, delimiter: str, quote: bool, header: list[str]) -> dict[str, pa.DataType]:
    """Columns whose sampled values have leading zeros: keep them as text."""
    try:
        table = pacsv.read_csv(
            io.BytesIO(sample.encode()),
            parse_options=_parse_options(delimiter, quote),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header}),
        )
    except pa.ArrowInvalid:
        return {}  # the full read reports what is wrong, with its line
    return {
        name: pa.string()
        for name in table.column_names
        if pc.any(pc.match_substring_regex(table.column(name), _LEADING_ZERO)).as_py()
    }


def read_csv(path: str, data: memoryview, fmt: str, typed: dict[str, pa.DataType]) -> pa.Table:
    first_line, sample = _header_and_sample(data)
    if not first_line.strip():
        raise IngestError(path, "the file is empty or starts with a blank line: expected a header", line=1)
    delimiter = "\t" if fmt == "tsv" else sniff_delimiter(first_line)
    quote = fmt != "tsv"  # TSV has no quoting: a '"' is an ordinary character
    quoting: diagnose.Quoting = csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE
    try:
        header = next(csv.reader([first_line], delimiter=delimiter, quoting=quoting, strict=True))
    except csv.Error:
        raise IngestError(
            path, "a quoted column name is not closed on the first line: column names cannot hold line breaks", line=1
        ) from None
    try:
        check_column_names(header, "header")
    except SchemaConflict as exc:
        raise IngestError(path, f"{exc.detail} in the header", line=1) from None
    types = {**_code_columns(sample, delimiter, quote, header), **typed}

    def read(types: dict[str, pa.DataType], only: list[str] | None = None) -> pa.Table:
        convert = pacsv.ConvertOptions(
            column_types=types, null_values=NULL_VALUES, strings_can_be_null=False, include_columns=only
        )
        return _with_big_values(
            lambda block: pacsv.read_csv(
                pa.BufferReader(data),
                read_options=pacsv.ReadOptions(block_size=block) if block else None,
                parse_options=_parse_options(delimiter, quote),
                convert_options=convert,
            ),
            len(data),
        )

    def as_written(names: list[str]) -> pa.Table:
        return read(dict.fromkeys(names, pa.string()), names)

    try:
        table = _whole_numbers_kept(read(types), types, read, as_written)
        table = _null_tokens_kept(table, types, read)
        table = _codes_kept(table, types, as_written, data, delimiter)
    except pa.ArrowInvalid as exc:
        diagnose.check_utf8(path, data, delimiter, header)
        diagnose.diagnose_csv(path, data, delimiter, quoting, typed, set(NULL_VALUES))
        raise IngestError(path, f"cannot read as {fmt.upper()}: {exc}") from None
    if any(pa.types.is_binary(t) for t in table.schema.types):  # inferred binary = not UTF-8
        diagnose.check_utf8(path, data, delimiter, header)
    if quote and _holds_line_break(table):  # a stray quote merges rows into one value: only then look
        diagnose.check_quotes(path, data, delimiter)
    return table


def _whole_numbers_kept(
    table: pa.Table,
    types: dict[str, pa.DataType],
    read: Callable[[dict[str, pa.DataType]], pa.Table],
    as_written: Callable[[list[str]], pa.Table] | None = None,
) -> pa.Table:
    """`table`, read again with decimal(38,0) for inferred double columns of whole numbers with one
    beyond a long: the readers fall back to double for integers too big for int64, which rounds
    every value of the column (distinct ids became equal). A column that turns out not to be whole
    numbers (an infinity, more than 38 digits) stays double; so does one `as_written` (the columns'
    text) shows written as floats (`9.223372036854776e+18` is a double that happens to be whole)."""
    huge = [
        name
        for name, kind in zip(table.column_names, table.schema.types, strict=True)
        if name not in types and pa.types.is_float64(kind) and _whole_beyond_long(table.column(name))
    ]
    if huge and as_written is not None:
        text = as_written(huge)
        huge = [name for name in huge if _written_as_integers(text.column(name))]
    if not huge:
        return table
    try:
        return read({**types, **dict.fromkeys(huge, _WHOLE_NUMBER)})
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass  # one column at a time, to keep the others
    kept = dict(types)
    for name in huge if len(huge) > 1 else []:
        try:
            table = read({**kept, name: _WHOLE_NUMBER})
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
        kept[name] = _WHOLE_NUMBER
    return table


def _null_tokens_kept(
    table: pa.Table, types: dict[str, pa.DataType], read: Callable[[dict[str, pa.DataType]], pa.Table]
) -> pa.Table:
    """`table` with the columns inferred as all-null read again as text: a column of nothing but
    `NA` or `-` (Namibia, a flag) keeps those characters, as any text column does; only empty
    cells are null."""
    empty = [name for name, kind in zip(table.column_names, table.schema.types, strict=True) if pa.types.is_null(kind)]
    if not empty:
        return table
    table = read({**types, **dict.fromkeys(empty, pa.string())})
    for name in empty:
        column = table.column(name)
        index = table.column_names.index(name)
        table = table.set_column(index, name, pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column))
    return table


def _written_as_integers(column: pa.ChunkedArray) -> bool:
    written = pc.filter(column, pc.invert(pc.is_in(column, value_set=pa.array(NULL_VALUES))))
    return bool(pc.all(pc.match_substring_regex(written, _INTEGER_AS_WRITTEN)).as_py())


def _codes_kept(
    table: pa.Table,
    types: dict[str, pa.DataType],
    as_written: Callable[[list[str]], pa.Table],
    data: memoryview,
    delimiter: str,
) -> pa.Table:
    """`table` with its new number columns that hold a code (see the module's words) as text: the
    1 MiB sample decides before the read, this looks at every value after it. Only columns that
    can hold one are read again, as text: integers, and doubles whose values are all whole."""
    maybe = [
        name
        for name, kind in zip(table.column_names, table.schema.types, strict=True)
        if name not in types
        and (
            pa.types.is_integer(kind)
            or pa.types.is_decimal(kind)
            or (pa.types.is_floating(kind) and _all_whole(table.column(name)))
        )
    ]
    if not maybe or not _may_hold_codes(data, delimiter):
        return table
    text = as_written(maybe)
    for name in maybe:
        column = text.column(name)
        if _holds_a_code(
            pc.filter(column, pc.invert(pc.is_in(column, value_set=pa.array(NULL_VALUES)))).combine_chunks()
        ):
            table = table.set_column(table.column_names.index(name), name, column)
    return table


def _may_hold_codes(data: memoryview, delimiter: str) -> bool:
    """Could a field of `data` be a code? One pass of RE2 over the bytes as they are (no copy): it
    costs less than reading the number columns again as text, which only a hint makes worth it."""
    pattern = _CODE_HINT.format(delimiter=f"\\x{ord(delimiter):02x}")
    whole = pa.py_buffer(data)
    for start in range(0, len(data), _HINT_SLICE):
        piece = whole.slice(start, min(_HINT_SLICE + 8, len(data) - start))  # 8: a hint across the cut
        offsets = pa.array([0, len(piece)], pa.int64()).buffers()[1]
        value = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, piece])
        if pc.match_substring_regex(value, pattern)[0].as_py():
            return True
    return False


def _holds_a_code(values: pa.Array) -> bool:
    if not len(values):
        return False
    if pc.any(pc.match_substring_regex(values, _LEADING_ZERO)).as_py():
        return True
    whole = pc.all(pc.match_substring_regex(values, _WHOLE_AS_WRITTEN)).as_py()
    return bool(whole and pc.any(pc.match_substring_regex(values, _CODE_MARK)).as_py())


def _all_whole(column: pa.ChunkedArray) -> bool:
    values = pc.drop_null(column)
    return bool(pc.all(pc.and_(pc.is_finite(values), pc.equal(pc.floor(values), values))).as_py())


def _whole_beyond_long(column: pa.ChunkedArray) -> bool:
    values = pc.drop_null(column)
    if not len(values) or (pc.max(pc.abs(values)).as_py() or 0) < 2**63:
        return False
    return bool(pc.all(pc.equal(pc.floor(values), values)).as_py())


def _with_big_values(read: Callable[[int | None], pa.Table], size: int) -> pa.Table:
    """`read(None)`; when a value is larger than a read block (a few MiB), which the fast readers
    refuse as a 'straddling object', once more with one block for the whole file."""
    try:
        return read(None)
    except pa.ArrowInvalid as exc:
        if "straddl" not in str(exc):
            raise
    return read(min(size + 1, 2**31 - 1))


def _holds_line_break(table: pa.Table) -> bool:
    """Does a text value hold a CR or LF? Scans the value bytes in small slices (no copy of them)."""
    found = np.empty(_SCAN_BYTES, dtype=bool)
    for i, kind in enumerate(table.schema.types):
        if not pa.types.is_string(kind):
            continue
        for chunk in table.column(i).chunks:
            values = chunk.buffers()[2]
            array = np.frombuffer(values, dtype=np.uint8) if values is not None else np.empty(0, np.uint8)
            for start in range(0, len(array), _SCAN_BYTES):
                part = array[start : start + _SCAN_BYTES]
                for end in (ord("\n"), ord("\r")):
                    if np.equal(part, end, out=found[: len(part)]).any():
                        return True
    return False


def _holds_map(kind: pa.DataType) -> bool:
    return pa.types.is_map(kind) or (
        pa.types.is_nested(kind) and any(_holds_map(kind.field(i).type) for i in range(kind.num_fields))
    )


def read_jsonl(path: str, data: memoryview, typed: dict[str, pa.DataType]) -> pa.Table:
    if _text_head(data)[:1] == b"[":
        return _read_json_array(path, data)
    # pyarrow's JSON reader cannot build a map (other engines' tables have them): such a column is read
    # as JSON gives it (an object is a struct), for the fit to the table to refuse by name.
    typed = {k: v for k, v in typed.items() if not _holds_map(v)}
    # JSON has no dates: such columns are read as text and cast, like CSV does.
    as_read = {k: v if diagnose.json_native(v) else pa.string() for k, v in typed.items()}
    nesting.check_json_lines(path, data)

    def read(types: dict[str, pa.DataType]) -> pa.Table:
        schema = pa.schema([pa.field(k, v) for k, v in types.items()]) if types else None
        parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
        return _with_big_values(
            lambda block: pajson.read_json(
                pa.BufferReader(data),
                read_options=pajson.ReadOptions(block_size=block) if block else None,
                parse_options=parse,
            ),
            len(data),
        )

    try:
        table = _whole_numbers_kept(read(as_read), as_read, read, lambda names: _json_numbers_as_written(data, names))
        for name, target in typed.items():
            if as_read[name] != target and name in table.column_names:
                index = table.column_names.index(name)
                table = table.set_column(index, name, table.column(name).cast(target, safe=True))
        return table
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        diagnose.check_utf8(path, data)
        diagnose.check_surrogates(path, data)
        diagnose.diagnose_jsonl(path, data, typed)
        raise IngestError(path, f"cannot read as JSON lines: {exc}") from None


def _json_numbers_as_written(data: memoryview, names: list[str]) -> pa.Table:
    """The numbers of the top-level `names` as written in JSON lines (null where there is none)."""
    written: dict[str, list[str | None]] = {name: [] for name in names}
    for raw in diagnose.raw_lines(data):
        if raw.strip():
            record = json.loads(raw, parse_float=str, parse_int=str)
            for name in names:
                value = record.get(name)
                written[name].append(value if isinstance(value, str) else None)
    return pa.table({name: pa.array(values, pa.string()) for name, values in written.items()})


def _read_json_array(path: str, data: memoryview) -> pa.Table:
    diagnose.check_utf8(path, data)
    try:
        rows = loads_json(bytes(data))
    except json.JSONDecodeError as exc:
        raise IngestError(path, f"not valid JSON at character {exc.colno}: {exc.msg}", line=exc.lineno) from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise IngestError(path, "a JSON file must hold one object per line or an array of objects")
    for row in rows:
        nesting.check_row(path, row)
    names = list(dict.fromkeys(name for row in rows for name in row))  # from_pylist keeps only the first row's
    try:
        return pa.table({name: _json_column([row.get(name) for row in rows]) for name in names})
    except UnicodeEncodeError:
        diagnose.check_surrogates(path, data)
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise IngestError(path, f"the objects do not form a table: {exc}") from None


def _json_column(values: list) -> pa.Array:
    try:
        return pa.array(values)
    except OverflowError:  # an integer beyond a long: exact as decimal(38,0), as in JSON lines
        return pa.array(values, _WHOLE_NUMBER)


def read_source(
    path: str,
    data: memoryview,
    fmt: str,
    typed: dict[str, pa.DataType],
    parquet_max_decoded_bytes: int | None = None,
) -> pa.Table:
    """`data` as a table. `parquet_max_decoded_bytes`: the memory a Parquet file may decode to
    (default: the setting ingest_parquet_max_decoded_bytes)."""
    with diagnose.fields_of_any_size():
        return _read_source(path, data, fmt, typed, parquet_max_decoded_bytes)


def _read_source(
    path: str, data: memoryview, fmt: str, typed: dict[str, pa.DataType], parquet_max_decoded_bytes: int | None
) -> pa.Table:
    if fmt in ("csv", "tsv"):
        return read_csv(path, data, fmt, typed)
    if fmt == "jsonl":
        table = read_jsonl(path, data, typed)
    else:
        limit = parquet_max_decoded_bytes or get_settings().ingest_parquet_max_decoded_bytes
        table = read_parquet(path, data, limit)
    if not table.num_columns:  # SQL cannot read a table without columns
        raise IngestError(path, "the file has no columns")
    nesting.check_schema(path, table.schema)
    return table
