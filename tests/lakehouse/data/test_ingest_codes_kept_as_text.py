"""A CSV column of codes stays text whichever line holds the code: leading zeros past the first
1 MiB were stored as numbers (`01234` -> 1234), and a phone number or a code like `12E4` became a
double (`+4917612345678` -> 4917612345678.0, `12E4` -> 120000.0)."""

from __future__ import annotations

import pytest

from lakehouse.data.ingest import ingest_file


@pytest.fixture(scope="module")
def lh(module_lakehouse):
    return module_lakehouse


@pytest.mark.parametrize(("suffix", "delimiter"), [("csv", ","), ("tsv", "\t")])
def test_a_leading_zero_past_the_first_mebibyte_keeps_the_column_text(lh, tmp_path, suffix, delimiter):
    path = tmp_path / f"zip_late.{suffix}"
    rows = [f"zip{delimiter}n"] + [f"{10000 + i % 80000}{delimiter}{i}" for i in range(200_000)]
    path.write_text("\n".join([*rows, f"01234{delimiter}999999"]) + "\n")
    assert path.stat().st_size > 2 * 1024 * 1024
    ingest_file(lh.tables, path, f"zip_late_{suffix}")
    assert lh.sql.query(f"SELECT zip, typeof(zip) FROM zip_late_{suffix} WHERE n = 999999").rows == [
        ["01234", "VARCHAR"]
    ]
    assert lh.sql.query(f"SELECT zip FROM zip_late_{suffix} WHERE n = 3").rows == [["10003"]]


def test_a_plus_or_an_exponent_in_a_column_of_whole_numbers_is_a_code(lh, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text(
        "phone,code,delta,sci,money\n+4917612345678,12E4,-3,1.5e3,+0.5\n+15551234567,3E7,5,2e4,2\nNA,7,,,\n"
    )
    ingest_file(lh.tables, path, "codes")
    rows = lh.sql.query(
        "SELECT phone, code, delta, sci, money, typeof(phone), typeof(code), typeof(delta), typeof(sci) FROM codes"
    ).rows
    assert rows == [
        ["+4917612345678", "12E4", -3, 1500.0, 0.5, "VARCHAR", "VARCHAR", "BIGINT", "DOUBLE"],
        ["+15551234567", "3E7", 5, 20000.0, 2.0, "VARCHAR", "VARCHAR", "BIGINT", "DOUBLE"],
        ["NA", "7", None, None, None, "VARCHAR", "VARCHAR", "BIGINT", "DOUBLE"],
    ]


def test_a_code_past_the_sample_in_a_column_of_plus_signs_keeps_its_plus(lh, tmp_path):
    path = tmp_path / "phones.csv"
    rows = ["id,phone"] + [f"{i},{15550000000 + i}" for i in range(100_000)] + ["100000,+4917612345678"]
    path.write_text("\n".join(rows) + "\n")
    ingest_file(lh.tables, path, "phones")
    assert lh.sql.query("SELECT phone FROM phones WHERE id IN (7, 100000) ORDER BY id").rows == [
        ["15550000007"],
        ["+4917612345678"],
    ]
