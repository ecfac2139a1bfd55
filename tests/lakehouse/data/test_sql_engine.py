"""SqlEngine: DuckDB over Iceberg snapshots — joins, time travel, row cap, time limit, locked
connection, names with special characters, namespaces."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from lakehouse.data.sql.engine import SqlError, SqlTimeout
from lakehouse.data.tables import TableNotFound


@pytest.fixture(scope="module")
def lh(staffing_lakehouse):
    return staffing_lakehouse


def test_join_over_two_tables(lh):
    result = lh.sql.query(
        'SELECT o."O*NET-SOC Code" AS code, w.annual_median_wage FROM onet o '
        'JOIN wages w ON substr(o."O*NET-SOC Code", 1, 7) = w.soc_code '
        "WHERE w.area_name = 'Illinois' AND o.Title = 'Light Truck Drivers'"
    )
    assert result.columns == ["code", "annual_median_wage"]
    assert result.rows == [["53-3033.00", 47380]] and not result.truncated


def test_row_cap_truncates_and_says_so(lh):
    result = lh.sql.query("SELECT soc_code FROM wages ORDER BY soc_code", row_cap=5)
    assert result.row_count == 5 and result.truncated
    assert lh.sql.query("SELECT 1", row_cap=5).truncated is False
    assert lh.sql.query("SELECT * FROM wages", row_cap=0).rows == []


def test_time_limit_interrupts_a_long_query(lh):
    with pytest.raises(SqlTimeout, match=r"longer than the time limit of 0.2 s \(sql_timeout_s, LH_SQL_TIMEOUT_S\)"):
        lh.sql.query("SELECT count(*) FROM range(1000000000000) a", timeout_s=0.2)
    assert lh.sql.query("SELECT count(*) FROM onet").rows == [[1016]]


def test_unknown_table_names_close_matches(lh):
    with pytest.raises(SqlError, match=r"Table with name wagez does not exist(.|\n)*; did you mean 'wages'"):
        lh.sql.query("SELECT * FROM wagez")


def test_an_unknown_table_far_from_any_is_not_offered_duckdbs_own_views(lh):
    """DuckDB guessed `Did you mean "pg_sequences"?` (its own view) above the real table list."""
    with pytest.raises(SqlError) as caught:
        lh.sql.query("SELECT * FROM nosuch")
    assert "pg_" not in str(caught.value) and "Did you mean" not in str(caught.value)
    assert "Lakehouse tables: lakehouse.onet" in str(caught.value)


def test_bad_column_is_a_clear_error(lh):
    with pytest.raises(SqlError, match='column "nope" not found'):
        lh.sql.query("SELECT nope FROM onet")


def test_time_travel_reads_an_older_snapshot(lh):
    first = lh.tables.write_arrow("lakehouse.scores", pa.table({"id": [1, 2], "score": [1.0, 2.0]}))
    second = lh.tables.write_arrow("scores", pa.table({"id": [3], "score": [3.0], "note": ["new col"]}))
    assert lh.sql.query("SELECT count(*), count(note) FROM scores").rows == [[3, 1]]
    assert lh.sql.query("SELECT count(*) FROM scores", snapshot=first).rows == [[2]]
    # the old snapshot has the old schema
    with pytest.raises(SqlError, match='"note" not found'):
        lh.sql.query("SELECT note FROM scores", snapshot=first)
    # other tables in the same query stay at their current snapshot
    rows = lh.sql.query("SELECT (SELECT count(*) FROM scores), (SELECT count(*) FROM onet)", snapshot=first).rows
    assert rows == [[2, 1016]]
    with pytest.raises(SqlError, match="no table in the query has snapshot 12345 .*lakehouse.scores"):
        lh.sql.query("SELECT * FROM scores", snapshot=12345)
    assert second == lh.tables.current_snapshot_id("scores")


def test_namespaced_tables_are_visible_by_qualified_name(lh):
    lh.tables.write_arrow("hr.people", pa.table({"id": [1, 2, 3]}))
    assert lh.sql.query("SELECT sum(id) FROM hr.people").rows == [[6]]
    assert lh.sql.query("SELECT count(*) FROM lakehouse.onet").rows == [[1016]]


def test_locked_connection_refuses_files_and_reconfiguration(lh):
    con = lh.sql.connect(["onet"])
    try:
        assert con.execute("SELECT count(*) FROM onet").fetchall() == [(1016,)]
        with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
            con.execute("SELECT * FROM read_csv('/etc/passwd')")
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            con.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error):
            con.execute("INSTALL httpfs")
    finally:
        con.close()
    with pytest.raises(TableNotFound, match="did you mean 'lakehouse.onet'"):
        lh.sql.connect(["onett"])


def test_filter_pushdown_reaches_the_parquet_scan(lh):
    con = lh.sql.connect(["wages"])
    try:
        plan = "\n".join(
            row[1] for row in con.execute("EXPLAIN SELECT soc_code FROM wages WHERE area_name = 'Illinois'").fetchall()
        )
    finally:
        con.close()
    assert "READ_PARQUET" in plan  # local warehouse: DuckDB's reader, columns mapped by field id
    assert "Filters: area_name = 'Illinois'" in plan
    assert "Projections: soc_code" in plan


def test_a_table_sql_cannot_bind_is_an_error_naming_it_and_other_tables_still_answer(lh):
    """Columns that differ only in case (written before ingest refused them): DuckDB cannot bind
    the table's view. The error names the table, shows no warehouse path, and is the caller's (400)."""
    twins = pa.table({"A": [1], "a": [2]})
    lh.tables.catalog.create_namespace_if_not_exists("legacy")
    lh.tables.catalog.create_table("legacy.case_twins", schema=twins.schema).append(twins)
    with pytest.raises(SqlError, match=r"^table 'legacy\.case_twins' cannot be read by SQL: Binder Error: .*dupl") as e:
        lh.sql.query("SELECT count(*) FROM legacy.case_twins")
    assert "/" not in str(e.value)  # no warehouse path
    assert lh.sql.query("SELECT count(*) FROM onet").rows == [[1016]]


BLOBS = r"SELECT '\xAA\x00\xFF\x5C\x27'::BLOB AS b, 'abc'::BLOB AS c, ['\x01'::BLOB] AS l, {'k': '\xFE'::BLOB} AS s"


def test_a_blob_answers_as_duckdb_writes_it_as_text_also_inside_lists_and_structs(lh):
    """Raw bytes that are not UTF-8 failed every surface (CLI, HTTP, MCP) with a UnicodeDecodeError."""
    result = lh.sql.query(BLOBS)
    assert result.rows == [[r"\xAA\x00\xFF\x5C\x27", "abc", [r"\x01"], {"k": r"\xFE"}]]
    assert result.rows[0][0] == lh.sql.query(BLOBS.replace("::BLOB AS b", "::BLOB::VARCHAR AS b")).rows[0][0]
    assert lh.sql.query(r"SELECT map(['\xAA'::BLOB], [1]) AS m").rows == [[{r"\xAA": 1}]]  # a MAP's keys too
    # the answer's size is its text's: 100 kB of bytes that are 400 kB of text pass no 300 kB cap
    with pytest.raises(SqlError, match="result too large"):
        lh.sql.query(r"SELECT repeat('\xFF'::BLOB, 100000) AS b", max_bytes=300_000)
