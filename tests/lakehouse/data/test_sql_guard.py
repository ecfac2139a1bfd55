"""Statements that try to write, escape or reconfigure are refused with a clear message, and the
tables are unchanged afterwards (same snapshot ids, same row counts)."""

from __future__ import annotations

import pytest

from lakehouse.data.sql.guard import SqlRejected, check_read_only

NOT_ALLOWED = "statements are not allowed: the SQL surface is read-only"
TABLE_FUNCTION = r"table function {}\(\) is not allowed: query tables by name"

ATTACKS = [
    ("INSERT INTO onet VALUES ('x', 'y', 'z')", f"INSERT {NOT_ALLOWED}"),
    ("UPDATE onet SET Title = 'x'", f"UPDATE {NOT_ALLOWED}"),
    ("DELETE FROM wages", f"DELETE {NOT_ALLOWED}"),
    ("CREATE TABLE evil AS SELECT * FROM onet", f"CREATE {NOT_ALLOWED}"),
    ("CREATE MACRO m(a) AS a", f"CREATE {NOT_ALLOWED}"),
    ("DROP TABLE onet", f"DROP {NOT_ALLOWED}"),
    ("ALTER TABLE onet RENAME TO x", f"ALTER {NOT_ALLOWED}"),
    ("COPY onet TO '{tmp}/stolen.csv'", f"COPY {NOT_ALLOWED}"),
    ("COPY (SELECT 1) TO '{tmp}/stolen.parquet' (FORMAT parquet)", f"COPY {NOT_ALLOWED}"),
    ("ATTACH '{tmp}/other.db' AS other", f"ATTACH {NOT_ALLOWED}"),
    ("DETACH other", f"DETACH {NOT_ALLOWED}"),
    ("INSTALL httpfs", f"LOAD {NOT_ALLOWED}"),
    ("LOAD httpfs", f"LOAD {NOT_ALLOWED}"),
    ("PRAGMA enable_profiling", f"PRAGMA {NOT_ALLOWED}"),
    ("SET enable_external_access = true", f"SET {NOT_ALLOWED}"),
    ("RESET lock_configuration", f"SET {NOT_ALLOWED}"),
    ("CALL pragma_version()", f"CALL {NOT_ALLOWED}"),
    ("EXPORT DATABASE '{tmp}/dump'", f"EXPORT {NOT_ALLOWED}"),
    ("CHECKPOINT", f"CALL {NOT_ALLOWED}"),
    ("BEGIN TRANSACTION", f"TRANSACTION {NOT_ALLOWED}"),
    ("EXPLAIN ANALYZE SELECT * FROM onet", f"EXPLAIN {NOT_ALLOWED}"),
    ("SELECT * FROM read_csv('/etc/passwd')", TABLE_FUNCTION.format("read_csv")),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", TABLE_FUNCTION.format("read_csv_auto")),
    ("SELECT * FROM read_text('/etc/passwd')", TABLE_FUNCTION.format("read_text")),
    ("SELECT * FROM read_blob('/etc/shadow')", TABLE_FUNCTION.format("read_blob")),
    ("SELECT * FROM read_parquet('{tmp}/*.parquet')", TABLE_FUNCTION.format("read_parquet")),
    ("SELECT * FROM glob('/**')", TABLE_FUNCTION.format("glob")),
    ("SELECT * FROM sniff_csv('/etc/passwd')", TABLE_FUNCTION.format("sniff_csv")),
    ("SELECT * FROM query('SELECT 1')", TABLE_FUNCTION.format("query")),
    ("SELECT * FROM duckdb_settings()", TABLE_FUNCTION.format("duckdb_settings")),
    (
        "SELECT * FROM onet WHERE Title IN (SELECT content FROM read_text('/etc/hosts'))",
        TABLE_FUNCTION.format("read_text"),
    ),
    ("SELECT * FROM '/etc/passwd'", "reading '/etc/passwd' is not allowed: query Lakehouse tables by name"),
    ("SELECT * FROM 'data.csv'", "reading 'data.csv' is not allowed"),
    ("SELECT * FROM memory.main.onet", "reading 'memory.main.onet' is not allowed"),
    ("SELECT getenv('HOME')", r"function getenv\(\) is not allowed in read-only SQL"),
    ("SELECT 1; DROP TABLE onet", "exactly one statement is allowed, got 2"),
    ("SELECT 1; SELECT 2", "exactly one statement is allowed, got 2"),
    ("UPDATE EXTENSIONS", "this statement is not allowed: the SQL surface is read-only"),
    # "MULTI statements are not allowed" said nothing a user could act on
    ("PIVOT onet ON Title", r"this PIVOT needs its values listed to run as one read-only query: PIVOT t ON col IN"),
    ("", "empty SQL: give one SELECT statement"),
    ("SELEC * FROM onet", "SQL does not parse"),
    ("SELECT " + "[" * 990 + "1" + "]" * 990, "SQL is nested too deeply to check: flatten the nested expressions"),
    ("SELECT " + "(" * 2000 + "1" + ")" * 2000, "SQL does not parse: .*Max expression depth limit of 1000 exceeded"),
]


@pytest.mark.parametrize("attack, message", ATTACKS, ids=[a[:40] for a, _ in ATTACKS])
def test_guard_refuses_with_a_clear_message(attack, message, tmp_path):
    with pytest.raises(SqlRejected, match=message):
        check_read_only(attack.format(tmp=tmp_path))


def test_a_pivot_with_its_values_listed_runs(staffing_lakehouse):
    wages = "SELECT area_name, employment FROM wages WHERE soc_code = '53-3033'"
    sql = f"PIVOT ({wages}) ON area_name IN ('Illinois', 'Ohio') USING sum(employment)"
    result = staffing_lakehouse.sql.query(sql)
    assert result.columns == ["Illinois", "Ohio"] and all(isinstance(v, int) for v in result.rows[0])


def test_engine_refuses_attacks_and_tables_stay_unchanged(staffing_lakehouse, tmp_path):
    lh = staffing_lakehouse
    before = {
        name: (
            lh.tables.current_snapshot_id(name),
            lh.tables.describe(name)["rows"],
            len(lh.tables.describe(name)["snapshots"]),
        )
        for name in lh.tables.list()
    }
    refused = 0
    for attack, message in ATTACKS:
        with pytest.raises(SqlRejected, match=message):
            lh.sql.query(attack.format(tmp=tmp_path))
        refused += 1
    assert refused >= 20
    after = {
        name: (
            lh.tables.current_snapshot_id(name),
            lh.tables.describe(name)["rows"],
            len(lh.tables.describe(name)["snapshots"]),
        )
        for name in lh.tables.list()
    }
    assert after == before
    assert sorted(before) == ["lakehouse.onet", "lakehouse.wages"]
    assert list(tmp_path.iterdir()) == []  # nothing was written by COPY / EXPORT / ATTACH
    assert lh.sql.query("SELECT count(*) FROM onet").rows == [[1016]]


@pytest.mark.parametrize(
    "query, tables",
    [
        ("SELECT 1", set()),
        ("WITH x AS (SELECT 1) SELECT * FROM x, onet", {(None, "onet")}),
        ("SELECT * FROM lakehouse.onet o JOIN wages w ON true", {("lakehouse", "onet"), (None, "wages")}),
        ("SELECT * FROM range(3) r WHERE r.range IN (SELECT 1 FROM wages)", {(None, "wages")}),
        ("FROM onet", {(None, "onet")}),
    ],
)
def test_allowed_queries_report_the_tables_they_read(query, tables):
    assert check_read_only(query).tables == tables
