"""Ingest formats and parsing rules: JSON lines, Parquet, sniffed delimiters, BOM, quoted line
breaks, null markers, codes with leading zeros, progress reports; and a property test: whatever
rows go into a CSV come back unchanged through SQL."""

from __future__ import annotations

import csv
import itertools
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.data.ingest import IngestError, ingest_file


@pytest.fixture(scope="module")
def lh(module_lakehouse):
    return module_lakehouse


def test_jsonl_then_parquet_append_into_one_table(lh, tmp_path):
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text('{"id": 1, "kind": "a", "value": 1.5}\n\n{"id": 2, "kind": "b", "value": null}\n')
    first = ingest_file(lh.tables, jsonl, "events")
    assert (first.status, first.rows_total) == ("created", 2)
    parquet = tmp_path / "more.parquet"
    pq.write_table(pa.table({"id": pa.array([3], pa.int32()), "kind": ["c"], "value": [2.0]}), parquet)
    second = ingest_file(lh.tables, parquet, "events")
    assert (second.status, second.rows_total) == ("appended", 3)
    assert lh.sql.query("SELECT id, kind, value FROM events ORDER BY id").rows == [
        [1, "a", 1.5],
        [2, "b", None],
        [3, "c", 2.0],
    ]


def test_json_array_file(lh, tmp_path):
    path = tmp_path / "array.json"
    path.write_text('[{"id": 1, "city": "Peoria"}, {"id": 2, "city": "Joliet"}]')
    assert ingest_file(lh.tables, path, "cities").rows_total == 2


def test_semicolon_delimiter_bom_quoted_newline_and_null_markers(lh, tmp_path):
    path = tmp_path / "export.txt"
    path.write_bytes('\ufeffcode;name;wage;note\n0042;"Smith; Jo";*;"two\nlines"\n0107;Lee;51000;#\n'.encode())
    result = ingest_file(lh.tables, path, "export")
    assert result.rows_total == 2
    types = {f["name"]: f["type"] for f in lh.tables.describe("export")["schema"]}
    assert types == {"code": "string", "name": "string", "wage": "long", "note": "string"}
    assert lh.sql.query("SELECT code, name, wage, note FROM export ORDER BY code").rows == [
        ["0042", "Smith; Jo", None, "two\nlines"],
        ["0107", "Lee", 51000, "#"],
    ]


def test_tsv_keeps_quotes_as_characters(lh, tmp_path):
    path = tmp_path / "quotes.tsv"
    path.write_text('id\tsaying\n1\t"quoted" start\n2\tsays "hi"\n')
    ingest_file(lh.tables, path, "sayings")
    assert lh.sql.query("SELECT saying FROM sayings ORDER BY id").rows == [['"quoted" start'], ['says "hi"']]


def test_progress_reports_stages_up_to_done(lh, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id\n1\n2\n")
    seen = []
    ingest_file(lh.tables, path, "progress_demo", progress=lambda stage, fraction: seen.append((stage, fraction)))
    stages = [s for s, _ in seen]
    assert stages[0] == "hashing" and stages[-1] == "done" and "writing" in stages
    seen.clear()
    path.write_text("id\n3\n")
    ingest_file(lh.tables, path, "progress_demo", progress=lambda stage, fraction: seen.append((stage, fraction)))
    assert [s for s, _ in seen][0] == "hashing" and seen[-1] == ("done", 1.0)
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_schema_conflict_from_jsonl_kind_change_names_lines(lh, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"id": 1, "tag": "x"}\n{"id": 2, "tag": 5}\n')
    with pytest.raises(
        IngestError, match=r"mixed.jsonl, line 2, column 'tag': number value 5, but line 1 has a string"
    ):
        ingest_file(lh.tables, path, "mixed")
    assert not lh.tables.exists("mixed")


# -- property: CSV -> ingest -> SQL gives back the same rows -------------------------------
_names = itertools.count()
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
_row = st.tuples(
    st.integers(min_value=-(2**62), max_value=2**62),
    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64)),
    _text.map(lambda s: "t" + s),  # a letter first, so the column is always text
    st.one_of(st.none(), st.booleans()),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=30))
def test_csv_round_trip_through_sql(lh, tmp_path, rows):
    path = tmp_path / f"round{next(_names)}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "amount", "label", "flag"])
        for i, amount, label, flag in rows:
            writer.writerow(
                [i, "" if amount is None else repr(amount), label, "" if flag is None else str(flag).lower()]
            )
    table = f"round_{path.stem}"
    ingest_file(lh.tables, path, table)
    back = lh.sql.query(f"SELECT id, amount, label, flag FROM {table}", row_cap=100).rows
    assert sorted(map(tuple, back), key=repr) == sorted(((i, a, label, f) for i, a, label, f in rows), key=repr)
    assert all(a is None or not math.isnan(a) for _, a, _, _ in back)
