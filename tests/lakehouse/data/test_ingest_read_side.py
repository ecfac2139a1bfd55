"""Files the fast readers used to accept wrongly or crash on: each is read right or refused with
an IngestError naming the file (and line/column), and a refused file leaves no table behind."""

from __future__ import annotations

import re

import pytest

from lakehouse.data.ingest import IngestError, ingest_file


@pytest.fixture(scope="module")
def lh(module_lakehouse):
    return module_lakehouse


def _refused(lh, path, table: str, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        ingest_file(lh.tables, path, table)
    assert not lh.tables.exists(table)


def test_quoted_line_breaks_are_kept_and_a_lone_misplaced_quote_within_a_line_is_read_as_before(lh, tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text('id,note,tail\n1,"two\nlines",a\n2,"x ""y""\r\nz",b\n3,say "hi",c\n4,"q"r,d\n')
    assert ingest_file(lh.tables, path, "notes").rows_total == 4
    assert lh.sql.query("SELECT note FROM notes ORDER BY id").rows == [
        ["two\nlines"],
        ['x "y"\r\nz'],
        ['say "hi"'],
        ["qr"],
    ]


def test_a_quote_left_open_to_the_end_of_the_file_is_refused_where_it_opened(lh, tmp_path):
    path = tmp_path / "open.csv"
    path.write_text('a,b\n1,"x\n2,y\n3,z\n')
    _refused(
        lh,
        path,
        "open_quote",
        r"open.csv, line 2, column 'b': a quoted value opened here is not closed before "
        "the end of the file",
    )


def test_json_lines_with_a_bom_and_no_json_extension_are_read_as_json(lh, tmp_path):
    path = tmp_path / "export.txt"
    path.write_bytes(b'\xef\xbb\xbf{"a":1,"b":"x"}\n{"a":3,"b":"y"}\n')
    ingest_file(lh.tables, path, "bom_json")
    assert lh.sql.query("SELECT a, b FROM bom_json ORDER BY a").rows == [[1, "x"], [3, "y"]]
    array = tmp_path / "array.json"
    array.write_bytes(b'\xef\xbb\xbf[{"a":5}]')
    assert ingest_file(lh.tables, array, "bom_json_array").rows_total == 1


def test_a_csv_named_file_starting_with_par1_is_read_as_csv(lh, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("PAR1,PAR2\n1,2\n")
    ingest_file(lh.tables, path, "par_header")
    assert lh.sql.query("SELECT PAR1, PAR2 FROM par_header").rows == [[1, 2]]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ok.csv.gz", b"\x1f\x8b\x08\x00rest", "compressed files are not supported: decompress it first"),
        ("ok.csv", b"PK\x03\x04rest", "compressed files are not supported: decompress it first"),
        ("le.csv", "\ufeffa,b\n1,2\n".encode("utf-16-le"), r"the file looks UTF-16 \(BOM FF FE\): save it as UTF-8"),
        ("be.csv", "\ufeffa,b\n1,2\n".encode("utf-16-be"), r"the file looks UTF-16 \(BOM FE FF\): save it as UTF-8"),
    ],
    ids=["gzip", "zip", "utf-16-le", "utf-16-be"],
)
def test_compressed_and_utf16_files_are_refused_saying_what_they_are(lh, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    _refused(lh, path, "encoded", f"{name}: {message}")


def test_cr_only_line_ends_are_read_as_line_ends(lh, tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b'a,b\r1,x\r2,"y\rz"\r')
    ingest_file(lh.tables, path, "cr_only")
    assert lh.sql.query("SELECT a, b FROM cr_only ORDER BY a").rows == [[1, "x"], [2, "y\rz"]]


def test_a_header_line_over_128_kib_is_read(lh, tmp_path):
    path = tmp_path / "long_name.csv"
    path.write_text("a," + "x" * 150_000 + "\n1,2\n")
    ingest_file(lh.tables, path, "long_header")
    assert lh.tables.describe("long_header")["rows"] == 1


def test_a_new_column_stored_under_the_name_of_a_table_column_is_refused(lh, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("id,O*NET\n1,2\n")
    ingest_file(lh.tables, first, "onet_codes")
    second = tmp_path / "second.csv"
    second.write_text("id,O_x2ANET\n3,4\n")
    before = lh.tables.describe("onet_codes")["current_snapshot_id"]
    with pytest.raises(IngestError, match=r"columns 'O\*NET' and 'O_x2ANET' would both be stored as 'O_x2ANET'"):
        ingest_file(lh.tables, second, "onet_codes")
    assert lh.tables.describe("onet_codes")["current_snapshot_id"] == before


def test_a_json_array_keeps_keys_the_first_object_lacks(lh, tmp_path):
    path = tmp_path / "keys.json"
    path.write_text('[{"id": 1}, {"id": 2, "extra": "x"}]')
    ingest_file(lh.tables, path, "later_keys")
    assert lh.sql.query("SELECT id, extra FROM later_keys ORDER BY id").rows == [[1, None], [2, "x"]]


def test_json_lines_of_empty_objects_for_a_new_table_are_refused(lh, tmp_path):
    path = tmp_path / "empty_objects.jsonl"
    path.write_text("{}\n{}\n")
    _refused(lh, path, "empty_objects", r"empty_objects.jsonl: the file has no columns")


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (
            "2024-01-02T10:00:00+05:00",
            "2024-01-02 10:00:00",
            r"a valid timestamp with a UTC offset \(YYYY-MM-DD HH:MM:SS\+00:00\)",
        ),
        (
            "2024-01-02 10:00:00",
            "2024-01-02T10:00:00+05:00",
            r"a valid timestamp without a UTC offset \(YYYY-MM-DD HH:MM:SS\)",
        ),
    ],
    ids=["offset-table", "naive-table"],
)
def test_a_timestamp_without_the_tables_offset_rule_says_which_it_needs(lh, tmp_path, first, second, message):
    table = f"tz_{len(first)}"
    (tmp_path / "a.csv").write_text(f"t,v\n{first},1\n")
    ingest_file(lh.tables, tmp_path / "a.csv", table)
    (tmp_path / "b.csv").write_text(f"t,v\n{second},2\n")
    with pytest.raises(IngestError, match=rf"b.csv, line 2, column 't': value '{re.escape(second)}' is not {message}"):
        ingest_file(lh.tables, tmp_path / "b.csv", table)


@pytest.mark.parametrize(
    ("name", "text"),
    [("big.csv", "a,b\n1,{big}\n2,y\n"), ("big.jsonl", '{{"a": 1, "b": "{big}"}}\n{{"a": 2, "b": "y"}}\n')],
    ids=["csv", "jsonl"],
)
def test_a_value_larger_than_a_read_block_is_read(lh, tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text.format(big="x" * 3_000_000))
    ingest_file(lh.tables, path, f"big_{name.split('.')[1]}")
    assert lh.sql.query(f"SELECT a, length(b) FROM big_{name.split('.')[1]} ORDER BY a").rows == [
        [1, 3_000_000],
        [2, 1],
    ]


def test_an_all_null_field_of_an_object_is_stored_as_text_and_filled_later(lh, tmp_path):
    (tmp_path / "first.jsonl").write_text('{"id": 1, "s": {"b": "x", "c": null}}\n')
    ingest_file(lh.tables, tmp_path / "first.jsonl", "null_field")
    (tmp_path / "second.jsonl").write_text('{"id": 2, "s": {"b": "y", "c": "z"}}\n')
    ingest_file(lh.tables, tmp_path / "second.jsonl", "null_field")
    assert lh.sql.query("SELECT id, s FROM null_field ORDER BY id").rows == [
        [1, {"b": "x", "c": None}],
        [2, {"b": "y", "c": "z"}],
    ]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("ids.csv", "id,x\n1,0.5\n12345678901234567890,1e300\n12345678901234567891,2\n"),
        (
            "ids.jsonl",
            '{"id": 1, "x": 0.5}\n{"id": 12345678901234567890, "x": 1e300}\n{"id": 12345678901234567891, "x": 2}\n',
        ),
        (
            "ids.json",
            '[{"id": 1, "x": 0.5}, {"id": 12345678901234567890, "x": 1e300}, {"id": 12345678901234567891, "x": 2}]',
        ),
    ],
    ids=["csv", "jsonl", "json-array"],
)
def test_integers_beyond_a_long_are_kept_exact(lh, tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    table = "ids_" + name.replace(".", "_")
    ingest_file(lh.tables, path, table)
    types = {f["name"]: f["type"] for f in lh.tables.describe(table)["schema"]}
    assert types == {"id": "decimal(38, 0)", "x": "double"}  # x holds a fraction: a double after all
    rows = lh.sql.query(f"SELECT CAST(id AS VARCHAR) FROM {table} ORDER BY id").rows
    assert rows == [["1"], ["12345678901234567890"], ["12345678901234567891"]]


def test_a_column_of_only_null_markers_keeps_its_text_and_empty_cells_stay_null(lh, tmp_path):
    path = tmp_path / "countries.csv"
    path.write_text("country,n,note\nNA,1,\nNA,2,\n")
    ingest_file(lh.tables, path, "countries")
    assert lh.sql.query("SELECT country, n, note FROM countries ORDER BY n").rows == [["NA", 1, None], ["NA", 2, None]]


def test_a_list_value_that_does_not_fit_the_tables_list_type_is_refused_at_its_line(lh, tmp_path):
    (tmp_path / "first.jsonl").write_text('{"id": 1, "l": [1]}\n')
    ingest_file(lh.tables, tmp_path / "first.jsonl", "lists")
    (tmp_path / "second.jsonl").write_text('{"id": 2, "l": [2, null]}\n{"id": 3, "l": [1.5]}\n')
    with pytest.raises(IngestError, match=r"second.jsonl, line 2, column 'l': value \[1.5\] is not a valid list<"):
        ingest_file(lh.tables, tmp_path / "second.jsonl", "lists")
