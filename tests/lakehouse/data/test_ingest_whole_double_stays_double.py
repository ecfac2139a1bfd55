"""A CSV double written as a float that happens to be a whole number beyond a long
(`9.223372036854776e+18`, 2**63) stays a double: the rule that keeps integers beyond a long exact
as decimal(38,0) read it as the decimal 9223372036854776000 (found by the CSV round-trip property)."""

from __future__ import annotations

import pytest

from lakehouse.data.ingest import ingest_file


@pytest.fixture(scope="module")
def lh(module_lakehouse):
    return module_lakehouse


def test_a_whole_float_beyond_a_long_written_as_a_float_stays_a_double(lh, tmp_path):
    path = tmp_path / "floats.csv"
    path.write_text("id,amount\n0,9.223372036854776e+18\n1,NA\n2,-1.5e19\n")
    ingest_file(lh.tables, path, "whole_floats")
    assert lh.sql.query("SELECT amount, typeof(amount) FROM whole_floats ORDER BY id").rows == [
        [9.223372036854776e18, "DOUBLE"],
        [None, "DOUBLE"],
        [-1.5e19, "DOUBLE"],
    ]


def test_integers_beyond_a_long_written_as_digits_stay_exact(lh, tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("id\n12345678901234567890\n12345678901234567891\nNA\n")
    ingest_file(lh.tables, path, "huge_ids")
    assert lh.sql.query("SELECT CAST(id AS VARCHAR) FROM huge_ids ORDER BY id").rows == [
        ["12345678901234567890"],
        ["12345678901234567891"],
        [None],
    ]


def test_json_lines_likewise(lh, tmp_path):
    floats = tmp_path / "floats.jsonl"
    floats.write_text(
        '{"id": 0, "amount": 9.223372036854776e+18}\n{"id": 1}\n{"id": 2, "amount": -15000000000000000000.0}\n'
    )
    ingest_file(lh.tables, floats, "whole_floats_json")
    assert lh.sql.query("SELECT amount, typeof(amount) FROM whole_floats_json ORDER BY id").rows == [
        [9.223372036854776e18, "DOUBLE"],
        [None, "DOUBLE"],
        [-1.5e19, "DOUBLE"],
    ]
    ids = tmp_path / "ids.jsonl"
    ids.write_text('{"id": 12345678901234567890}\n{"id": 12345678901234567891}\n')
    ingest_file(lh.tables, ids, "huge_ids_json")
    assert lh.sql.query("SELECT CAST(id AS VARCHAR) FROM huge_ids_json ORDER BY id").rows == [
        ["12345678901234567890"],
        ["12345678901234567891"],
    ]
