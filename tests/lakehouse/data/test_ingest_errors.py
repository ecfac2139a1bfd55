"""Every malformed input is a clear error naming file, line and column, and leaves the table
exactly as it was (same snapshot id, same rows). One scenario file each in `ingest_cases/`."""

from __future__ import annotations

import re

import pytest

from lakehouse.data.ingest import IngestError, ingest_file
from tests.fixtures.tables import INGEST_CASES, table_state

# file -> (key, expected message after "<path>, ")
CASES = {
    "ragged_row.csv": (None, "line 4: expected 4 fields like the header, found 5"),
    "short_row.csv": (None, "line 3: expected 4 fields like the header, found 3"),
    "unclosed_quote.csv": (None, "line 2, column 'name': a quoted value opened here is not closed before the end of"),
    # the fast reader merged rows 6..8 into one name: rows lost without a word
    "stray_quote.csv": (None, "line 3, column 'name': a quoted value opened here is not closed before line 5"),
    "bad_encoding.csv": (None, "line 3, column 'name': byte 0xe9 at character 6 is not valid UTF-8"),
    "bad_int.csv": (None, "line 5, column 'id': value 'x7' is not a valid long integer (the table's type"),
    "bad_double.csv": (None, "line 2, column 'score': value 'high' is not a valid double"),
    "bad_date.csv": (None, "line 3, column 'day': value '2024-13-45' is not a valid date (YYYY-MM-DD)"),
    "duplicate_header.csv": (None, "line 1: column name 'id' appears more than once in the header"),
    "empty.csv": (None, "the file is empty"),
    # SQL cannot tell such columns apart: the table could never be queried again
    "case_only_header.csv": (None, "line 1: columns 'name' and 'Name' differ only in case, which SQL cannot tell"),
    "case_of_a_table_column.csv": (None, "columns 'id' and 'ID' differ only in case, which SQL cannot tell apart"),
    # a terminal acts on ESC and BEL wherever the name is shown (`lakehouse sql`, `table`)
    "control_in_header.csv": (None, "line 1: column 2 name 'na\\x1b]0;PWN\\x07me' holds a control character U+001B"),
    "case_only_keys.jsonl": (None, "columns 'job title' and 'Job Title' differ only in case"),
    "bad_json.jsonl": (None, "line 2: not valid JSON at character 34"),
    "wrong_type.jsonl": (None, "line 3, column 'id': value 'abc' is not a valid long integer"),
    "null_line.jsonl": (None, "line 2: expected a JSON object per line, found null"),
    "too_deep.jsonl": (None, "line 2: nested too deeply to read; at most 64 levels of lists and objects"),
    # Arrow's JSON reader overflowed the C stack on this one: a segfault took the process (the API) down
    "nested_40000_levels.jsonl": (None, "line 2: nested too deeply to read; at most 64 levels of lists and objects"),
    "nested_65_levels.jsonl": (None, "line 2, column 'name': nested 65 levels deep; at most 64 levels"),
    "nested_70_levels_array.json": (None, "column 'name': nested 70 levels deep; at most 64 levels"),
    "nested_70_levels.parquet": (None, "column 'name': nested 70 levels deep; at most 64 levels"),
    "too_deep_array.json": (None, "line 1: not valid JSON at character 1: nested too deeply"),
    "schema_conflict.parquet": (None, "column 'score': the table has type double, the incoming data has string"),
    "not_parquet.parquet": (None, "not a readable Parquet file"),
    # each of these crashed with an internal error (exit 2, HTTP 500) at the commit or the cast
    "uint64_too_big.parquet": (None, "column 'a': value 9223372036854775813 is larger than a long integer"),
    "timestamp_nanoseconds.parquet": (None, "column 'a': a value has nanoseconds: timestamps finer than microseconds"),
    "time_nanoseconds.parquet": (None, "column 'a': a value has nanoseconds: times finer than microseconds"),
    "decimal256.parquet": (None, "column 'a': its type decimal256(76, 1) cannot be stored in an Iceberg table"),
    "duration.parquet": (None, "column 'a': its type duration[s] cannot be stored in an Iceberg table"),
    "json_extension.parquet": (None, "column 'j': its type extension<arrow.json> cannot be stored in an Iceberg"),
    "struct_field_twice.parquet": (None, "column 's': field name 'x' appears more than once"),
    "struct_field_unnamed.parquet": (None, "column 's': field 1 has an empty name"),
    "unnamed_key.jsonl": (None, "column 'a': field 1 has an empty name"),
    "names_stored_alike.parquet": (None, "columns 'O*NET' and 'O_x2ANET' would both be stored as 'O_x2ANET'"),
    "names_stored_alike.csv": (None, "line 1: columns 'O*NET' and 'O_x2ANET' would both be stored as 'O_x2ANET'"),
    "invalid_utf8.parquet": (None, "column 'name': the value in data row 2 is not valid UTF-8 text"),
    "line_break_in_header.csv": (None, "line 1: a quoted column name is not closed on the first line"),
    "lone_surrogate.json": (None, "line 2: the escape \\ud800 is half of a UTF-16 surrogate pair"),
    "lone_surrogate.jsonl": (None, "line 2: the escape \\udc00 is half of a UTF-16 surrogate pair"),
    # a table without columns cannot be read by SQL
    "no_columns.parquet": (None, "the file has no columns"),
    "empty_array.json": (None, "the file has no columns"),
    "duplicate_columns.parquet": (None, "column name 'a' appears more than once"),
    "duplicate_key.csv": ("id", "column 'id': key 4 appears more than once (data rows [1, 3])"),
    "empty_key.csv": ("id", "column 'id': the key is empty in data row 2"),
}


@pytest.fixture(scope="module")
def people(module_lakehouse):
    ingest_file(module_lakehouse.tables, INGEST_CASES / "base.csv", "people")
    return module_lakehouse


def test_every_scenario_file_has_a_case():
    files = {p.name for p in INGEST_CASES.iterdir()} - {"base.csv"}
    assert files == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_file_is_refused_and_table_unchanged(people, name):
    key, expected = CASES[name]
    path = INGEST_CASES / name
    before = table_state(people, "people")
    with pytest.raises(IngestError, match=re.escape(str(path)) + "[,:] " + re.escape(expected)):
        ingest_file(people.tables, path, "people", key=key)
    assert table_state(people, "people") == before


def test_key_column_missing_from_file(people, tmp_path):
    path = tmp_path / "nokey.csv"
    path.write_text("name,score\nZed,1.0\n")
    before = table_state(people, "people")
    with pytest.raises(IngestError, match=r"nokey.csv: key column 'id' is not in the file \(columns: name, score\)"):
        ingest_file(people.tables, path, "people", key="id")
    assert table_state(people, "people") == before


def test_missing_file_and_unknown_format(people, tmp_path):
    with pytest.raises(IngestError, match="nope.csv: no such file"):
        ingest_file(people.tables, tmp_path / "nope.csv", "people")
    path = tmp_path / "x.csv"
    path.write_text("id\n1\n")
    with pytest.raises(IngestError, match="unknown format 'xml': use one of csv, tsv, jsonl, parquet"):
        ingest_file(people.tables, path, "people", format="xml")
    assert not people.tables.exists("never_created")


def test_bad_file_for_a_new_table_creates_nothing(people):
    with pytest.raises(IngestError, match="line 4: expected 4 fields"):
        ingest_file(people.tables, INGEST_CASES / "ragged_row.csv", "fresh_table")
    assert not people.tables.exists("fresh_table")
