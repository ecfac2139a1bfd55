"""SQL resource limits: a result byte cap enforced while fetching, DuckDB memory / threads / spill
directory from settings (engine and `ops sql`), and an API that keeps answering while one heavy
query runs (real uvicorn server on 127.0.0.1)."""

from __future__ import annotations

import threading
import time

import duckdb
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.sql.engine import SqlError
from lakehouse.observe.observer import Observer
from tests.fixtures.http import assert_error, make_settings, serve

BIG = "SELECT repeat('y', 100000) AS y FROM range(10000)"  # 10 000 rows of 100 kB: about 1 GB


@pytest.fixture(scope="module")
def small_lh(tmp_path_factory):
    """A Lakehouse with tight limits: 100 MB of DuckDB memory, one thread, 64 KiB of result."""
    home = tmp_path_factory.mktemp("sql-limits-home")
    lh = Lakehouse(Settings(home=home, sql_memory_limit="100MB", sql_threads=1, sql_result_max_bytes=64 * 1024))
    lh.tables.write_arrow("nums", pa.table({"x": list(range(1000))}))
    lh.tables.write_arrow("hr.people", pa.table({"id": [1, 2, 3]}))
    yield lh
    lh.close()


# ---------------------------------------------------------------------------- result byte cap
def test_oversized_result_is_refused_while_fetching(staffing_lakehouse):
    lh = staffing_lakehouse
    with pytest.raises(
        SqlError,
        match=r"result too large: its first \d+ rows are already more than 16 MiB, "
        r"the limit sql_result_max_bytes \(LH_SQL_RESULT_MAX_BYTES=16777216\); add a LIMIT",
    ) as info:
        lh.sql.query(BIG)
    assert type(info.value).__name__ == "SqlResultTooLarge"
    # refused after about the cap's worth of rows, not after reading all 10 000 (1 GB)
    rows_read = int(info.value.args[0].split("its first ", 1)[1].split()[0])
    assert 160 <= rows_read <= 200
    # the engine (shared database and its cursors) stays usable
    assert lh.sql.query("SELECT count(*) FROM onet").rows == [[1016]]
    # rows past row_cap never count: the same query capped at 10 rows (1 MB) is answered
    capped = lh.sql.query(BIG, row_cap=10)
    assert capped.row_count == 10 and capped.truncated and len(capped.rows[0][0]) == 100_000


def test_result_under_the_cap_is_answered_and_over_it_is_not(small_lh):
    ok = small_lh.sql.query("SELECT repeat('y', 1000) FROM range(50)")  # ~50 kB < 64 KiB
    assert ok.row_count == 50 and not ok.truncated
    with pytest.raises(SqlError, match=r"result too large: .*more than 65536 bytes, the limit sql_result_max_bytes"):
        small_lh.sql.query("SELECT repeat('y', 1000) FROM range(100)")  # ~100 kB
    # numbers and NULLs count too, not only strings; and a per-call max_bytes overrides the setting
    with pytest.raises(SqlError, match="result too large"):
        small_lh.sql.query("SELECT x, x * 2, NULL FROM range(5000) t(x)")
    assert small_lh.sql.query("SELECT x, x * 2, NULL FROM range(5000) t(x)", max_bytes=1 << 20).row_count == 5000
    assert small_lh.sql.query("SELECT sum(x) FROM nums").rows == [[499500]]


# ---------------------------------------------------------------------------- DuckDB limits
_SETTINGS_SQL = (
    "SELECT current_setting('memory_limit'), current_setting('threads'), "
    "current_setting('temp_directory'), current_setting('max_temp_directory_size')"
)


def test_memory_threads_and_spill_directory_come_from_settings(small_lh):
    spill_root = str(small_lh.settings.home_dir / "tmp" / "duckdb") + "/"
    # bare names: a cursor on the shared database; namespace.name: a private database
    for sql in (f"{_SETTINGS_SQL}, (SELECT count(*) FROM nums)", f"{_SETTINGS_SQL}, (SELECT count(*) FROM hr.people)"):
        memory, threads, temp, temp_max, _ = small_lh.sql.query(sql).rows[0]
        assert (memory, threads) == ("95.3 MiB", 1)  # 100MB as DuckDB prints it
        assert temp.startswith(spill_root) and temp_max == "9.3 GiB"  # sql_temp_max_size = 10GB
    con = small_lh.sql.connect(["nums"])
    try:  # and they are locked
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            con.execute("SET memory_limit = '10GB'")
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            con.execute("SET threads = 8")
    finally:
        con.close()


def test_a_query_past_the_memory_limit_fails_clearly(small_lh):
    # a sorted list of 30M BIGINTs (240 MB) must sit in memory at once: it cannot spill
    with pytest.raises(
        SqlError,
        match=r"query stopped: it needs more memory than the limit sql_memory_limit "
        r"\(LH_SQL_MEMORY_LIMIT=100MB\), even spilling to disk \(Out of Memory Error",
    ):
        small_lh.sql.query("SELECT max(l[1]) FROM (SELECT list(x ORDER BY x DESC) AS l FROM range(30000000) t(x))")
    assert small_lh.sql.query("SELECT count(*) FROM nums").rows == [[1000]]


def test_a_bad_limit_setting_is_named(tmp_path):
    lh = Lakehouse(Settings(home=tmp_path, sql_memory_limit="lots"))
    try:
        with pytest.raises(ValueError, match=r"bad SQL setting sql_memory_limit \(LH_SQL_MEMORY_LIMIT\) = 'lots'"):
            lh.sql.query("SELECT 1")
    finally:
        lh.close()


def test_ops_sql_connection_has_the_same_limits(tmp_path):
    settings = Settings(home=tmp_path, sql_memory_limit="100MB", sql_threads=1)
    columns, rows = Observer(tmp_path / "ops.jsonl").sql(
        _SETTINGS_SQL + ", (SELECT count(*) FROM ops)", settings=settings
    )
    memory, threads, temp, _, count = rows[0]
    assert (memory, threads, count) == ("95.3 MiB", 1, 0)
    assert temp.startswith(str(tmp_path.resolve() / "tmp" / "duckdb"))


_LOCK_SQL = (
    "SELECT current_setting('autoload_known_extensions'), current_setting('autoinstall_known_extensions'), "
    "current_setting('enable_external_access'), current_setting('python_enable_replacements'), "
    "current_setting('lock_configuration')"
)


def test_ops_sql_connection_is_locked_down_like_the_engine(small_lh, tmp_path):
    """`ops sql` once ran with extension autoload on and replacement scans allowed; now both
    connections come from the one lock-down and read the same settings."""
    engine = small_lh.sql.query(f"{_LOCK_SQL}, (SELECT count(*) FROM nums)").rows[0][:5]
    _, rows = Observer(tmp_path / "ops.jsonl").sql(
        f"{_LOCK_SQL}, (SELECT count(*) FROM ops)", settings=small_lh.settings
    )
    assert tuple(rows[0][:5]) == tuple(engine) == (False, False, False, False, True)


# ---------------------------------------------------------------------------- over HTTP
@pytest.fixture(scope="module")
def limited_api(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("sql-limits-api"), sql_timeout_s=3.0, sql_result_max_bytes=1 << 20)
    with serve(settings) as live:
        yield live


def test_http_oversized_result_is_a_400_naming_the_cap(limited_api):
    with limited_api.client() as client:
        response = client.post("/v1/sql", json={"sql": "SELECT repeat('y', 10000) FROM range(2000)"})  # ~20 MB
        assert response.status_code == 400, (response.status_code, len(response.content))
        assert_error(
            response,
            400,
            "sql_result_too_large",
            r"result too large: .*more than 1 MiB, the limit sql_result_max_bytes \(LH_SQL_RESULT_MAX_BYTES=1048576\); "
            r"add a LIMIT, select fewer or narrower columns",
        )
        assert len(response.content) < 1000
        assert client.post("/v1/sql", json={"sql": "SELECT 42 AS n"}).json()["rows"] == [[42]]


def test_http_answers_other_requests_while_a_heavy_query_runs(limited_api):
    heavy: dict = {}
    others: list[tuple[int, bool]] = []  # (status, was the heavy query still pending when it came)

    def run_heavy() -> None:
        with limited_api.client() as client:  # counts to 10^12: stopped by the 3 s time limit
            heavy["response"] = client.post("/v1/sql", json={"sql": "SELECT count(*) FROM range(1000000000000)"})

    thread = threading.Thread(target=run_heavy)
    thread.start()
    time.sleep(0.5)  # give the heavy query a head start (no time is asserted)
    with limited_api.client() as client:
        for request in (lambda: client.get("/v1/tables"), lambda: client.post("/v1/sql", json={"sql": "SELECT 1"})):
            response = request()
            others.append((response.status_code, thread.is_alive()))
    thread.join(120)
    assert others == [(200, True), (200, True)]  # both answered while the heavy query was pending
    assert_error(heavy["response"], 400, "sql_timeout", "ran longer than the time limit of 3 s")
