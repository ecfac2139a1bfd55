"""SQL in capped worker processes (`sql_isolation`): what DuckDB's memory_limit does not bound (a
string built by `repeat`) fails in the worker with a clear error and leaves the caller's memory as
it was; a worker killed or stuck is replaced; errors keep their type and fields; the servers turn
it on, the CLI does not. Real worker processes, real DuckDB; the HTTP case is a real `lakehouse api`."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import httpx
import pyarrow as pa
import pytest

from lakehouse.config import GiB, Settings
from lakehouse.core import Lakehouse
from lakehouse.data.errors import SqlBusy, SqlError, SqlRejected, SqlResultTooLarge, SqlTimeout, TableNotFound
from lakehouse.data.sql import workers
from tests.fixtures.http import api_process

LONG = "SELECT sum(hash(i)) FROM range(100000000000) t(i)"  # hours, unless stopped
# 3 GB in one string: DuckDB allocates it outside its buffer manager, in one block
HUGE_STRING = "SELECT length(repeat(repeat(chr(120), 1000), 3000000)) AS n"


def _peak_kib(pid: str | int = "self") -> int:
    status = open(f"/proc/{pid}/status").read()
    return int(status.split("VmHWM:")[1].split()[0])


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    home = tmp_path_factory.mktemp("sql-workers-home")
    settings = Settings(home=home, sql_isolation="process", sql_workers=1, sql_worker_memory=2 * GiB)
    lh = Lakehouse(settings)
    lh.tables.write_arrow("nums", pa.table({"x": list(range(1000))}))
    yield lh
    lh.close()
    workers.close_all()


def _pool(lh: Lakehouse) -> workers.SqlWorkers:
    return workers.workers_for(lh.settings)


def test_a_string_past_the_workers_memory_fails_there_and_the_caller_keeps_its_memory(isolated):
    assert isolated.sql.query("SELECT sum(x) FROM nums").rows == [[499500]]  # the worker is up
    before = _peak_kib()
    with pytest.raises(
        SqlError,
        match=r"query stopped: it needs more memory than a SQL worker may use, 2.0GiB \(sql_worker_memory, "
        r"LH_SQL_WORKER_MEMORY; Failed to allocate block of \d+ bytes\): build smaller strings",
    ):
        isolated.sql.query(HUGE_STRING)
    assert _peak_kib() - before < 200 * 1024  # the 2 GB were never ours
    # the same worker answers the next query
    assert isolated.sql.query("SELECT count(*) FROM nums WHERE x < 10").rows == [[10]]


def test_errors_keep_their_type_message_and_fields(isolated):
    with pytest.raises(SqlRejected, match=r"table function read_csv\(\) is not allowed"):
        isolated.sql.query("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(SqlError, match=r"Table with name nmus does not exist!(.|\n)*did you mean 'nums'"):
        isolated.sql.query("SELECT * FROM nmus")
    with pytest.raises(SqlTimeout, match=r"query stopped: it ran longer than the time limit of 0.5 s"):
        isolated.sql.query(LONG, timeout_s=0.5)
    # an error whose __init__ takes its fields comes back whole (plain pickling calls cls(*args))
    packed = pickle.loads(pickle.dumps(workers.pack(TableNotFound("nmus", ["nums"], ["lakehouse.nums"]))))
    error = workers.unpack(packed)
    assert type(error) is TableNotFound and (error.name, error.suggestions) == ("nmus", ["nums"])
    assert str(error) == str(TableNotFound("nmus", ["nums"], ["lakehouse.nums"]))


def test_a_killed_worker_fails_its_query_with_the_reason_and_is_replaced(isolated):
    pool = _pool(isolated)
    thread, answer = _long_query(isolated, timeout_s=60)
    worker = _busy_worker(pool)
    worker._process.kill()
    thread.join(30)
    assert not thread.is_alive()
    assert "killed by signal 9" in str(answer["error"])
    assert str(answer["error"]).startswith("query stopped: the SQL worker running it ended (killed by signal 9;")
    assert isolated.sql.query("SELECT max(x) FROM nums").rows == [[999]]


def test_closing_the_workers_ends_a_query_in_flight_at_once(isolated):
    """A stopping server closes its workers: a query still running held it for the full exit timer."""
    pool = _pool(isolated)
    thread, answer = _long_query(isolated, timeout_s=600)
    _busy_worker(pool)
    workers.close_all()
    thread.join(30)
    assert not thread.is_alive() and "the SQL worker running it ended" in str(answer["error"])
    assert isolated.sql.query("SELECT 3 AS three").rows == [[3]]  # a new pool for the next caller


def test_a_stuck_worker_is_killed_past_its_time_limit_and_the_grace(isolated, monkeypatch):
    # a stopped process cannot be interrupted by DuckDB's timer: only the caller's watchdog ends it
    monkeypatch.setattr(workers, "_GRACE_S", 0.5)
    pool = _pool(isolated)
    thread, answer = _long_query(isolated, timeout_s=2)
    stuck = _busy_worker(pool)
    os.kill(stuck._process.pid, signal.SIGSTOP)
    thread.join(60)
    assert isinstance(answer["error"], SqlTimeout), answer
    assert "ran longer than the time limit of 2 s" in str(answer["error"])
    assert stuck._process.poll() is not None and stuck not in pool._idle  # killed, not kept
    assert isolated.sql.query("SELECT min(x) FROM nums").rows == [[0]]


def test_what_big_queries_leave_in_a_worker_does_not_fail_the_next_ones(isolated):
    """The probe's sequence at the smallest cap: a worker left holding most of its cap failed every
    later query ("can't start new thread"); one holding over half its cap now retires."""
    for sql in (
        "SELECT repeat('x', 1000000) AS s FROM range(40)",
        "SELECT repeat('x', 200000000) AS big",
        "SELECT length(string_agg(repeat('x', 1000000), '')) AS n FROM range(3000)",
        "SELECT list(range) AS l FROM range(300000000)",
    ):
        with pytest.raises(SqlError, match="result too large|needs more memory"):
            isolated.sql.query(sql)
    for _ in range(3):
        assert isolated.sql.query("SELECT count(*) FROM nums").rows == [[1000]]


def test_ops_sql_has_the_time_and_size_limits_of_the_tables_sql(isolated):
    tight = isolated.settings.model_copy(update={"sql_timeout_s": 0.5, "sql_result_max_bytes": 64 * 1024})
    for settings in (tight, tight.model_copy(update={"sql_isolation": "off"})):
        with pytest.raises(SqlTimeout, match="ran longer than the time limit of 0.5 s"):
            isolated.observer.sql(LONG, settings)
        with pytest.raises(SqlResultTooLarge, match="result too large: .* more than 65536 bytes"):
            isolated.observer.sql("SELECT repeat('x', 1000) FROM range(1000)", settings)
        columns, rows = isolated.observer.sql("SELECT count(*) AS n FROM ops", settings)
        assert columns == ["n"] and isinstance(rows[0], tuple)


def test_a_query_waits_for_a_busy_worker_and_says_so_when_none_frees(isolated):
    pool = _pool(isolated)
    thread = threading.Thread(target=lambda: pytest.raises(SqlError, isolated.sql.query, LONG, timeout_s=20))
    thread.start()
    _busy_worker(pool)
    with pytest.raises(SqlBusy, match=r"all 1 SQL workers \(sql_workers, LH_SQL_WORKERS\) stayed busy for 0.3 s: try"):
        isolated.sql.query("SELECT 1", timeout_s=0.3)
    for worker in list(pool._busy):
        worker._process.kill()
    thread.join(30)


def _long_query(lh: Lakehouse, timeout_s: float, sql: str = LONG) -> tuple[threading.Thread, dict]:
    """`sql` started in a thread; the error it ends with lands in the dict, under "error"."""
    answer: dict = {}

    def run() -> None:
        try:
            lh.sql.query(sql, timeout_s=timeout_s)
        except SqlError as exc:
            answer["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, answer


def _busy_worker(pool: workers.SqlWorkers) -> workers._Worker:
    deadline = time.monotonic() + 60
    while not pool._busy:
        assert time.monotonic() < deadline, "no worker took the query"
        time.sleep(0.05)
    return next(iter(pool._busy))


def test_only_servers_isolate_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr(workers, "_serving_untrusted", False)
    settings = Settings(home=tmp_path)
    assert settings.sql_isolation == "auto" and not workers.isolating(settings)
    workers.serve_untrusted()
    assert workers.isolating(settings)
    assert not workers.isolating(settings.model_copy(update={"sql_isolation": "off"}))
    with pytest.raises(ValueError, match=r"sql_timeout_s\n  Input should be greater than 0"):
        Settings(home=tmp_path, sql_timeout_s=0)
    with pytest.raises(ValueError, match=r"sql_workers\n  Input should be less than or equal to 64"):
        Settings(home=tmp_path, sql_workers=100_000)
    with pytest.raises(ValueError, match=r"sql_worker_memory\n  Value error, must be from 2GiB to 1TiB, got 953.7MiB"):
        Settings(home=tmp_path, sql_worker_memory="1GB")


def test_the_api_answers_a_huge_string_with_an_error_and_does_not_grow(tmp_path):
    with api_process(tmp_path, env={"LH_SQL_WORKER_MEMORY": "2GiB"}) as (url, proc):
        with httpx.Client(base_url=url, timeout=120) as client:
            assert client.post("/v1/sql", json={"sql": "SELECT 42 AS n"}).json()["rows"] == [[42]]
            before = _peak_kib(proc.pid)
            response = client.post("/v1/sql", json={"sql": HUGE_STRING})
            assert response.status_code == 400
            assert "needs more memory than a SQL worker may use, 2.0GiB" in response.json()["error"]["message"]
            assert _peak_kib(proc.pid) - before < 200 * 1024
            assert client.post("/v1/sql", json={"sql": "SELECT 43 AS n"}).json()["rows"] == [[43]]


def test_an_idle_worker_that_died_is_replaced_before_the_next_query(isolated):
    pool = _pool(isolated)
    assert isolated.sql.query("SELECT 1 AS one").rows == [[1]]
    (idle,) = pool._idle
    idle._process.kill()
    idle._process.wait(10)
    assert isolated.sql.query(r"SELECT '\xAA'::BLOB AS b").rows == [[r"\xAA"]]  # and blobs cross as text


def test_a_worker_takes_no_module_from_the_servers_working_directory(isolated, tmp_path, monkeypatch):
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "ran"
    (planted / "duckdb.py").write_text(f"open({str(marker)!r}, 'w').write('planted code ran')\n")
    monkeypatch.chdir(planted)
    workers.close_all()  # the next query starts a worker from here
    assert isolated.sql.query("SELECT 2 AS two").rows == [[2]]
    assert not marker.exists()


def test_a_worker_ends_soon_after_its_server_is_killed(tmp_path):
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(home=str(tmp_path), long=LONG)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    worker_pid = int(server.stdout.readline())
    server.kill()  # SIGKILL: nobody closes the worker's socket while its query runs
    server.wait(30)
    deadline = time.monotonic() + 60
    while _running(worker_pid):
        assert time.monotonic() < deadline, "the worker outlived its server"
        time.sleep(0.2)


SERVER = """
import threading, time
from pathlib import Path
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.sql import workers
lh = Lakehouse(Settings(home=Path({home!r}), sql_isolation="process", sql_timeout_s=600))
pool = workers.workers_for(lh.settings)
lh.sql.query("SELECT 1")
threading.Thread(target=lh.sql.query, args=({long!r},), daemon=True).start()
while not pool._busy:
    time.sleep(0.05)
print(next(iter(pool._busy))._process.pid, flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended: its parent (init, here) reaps it


def test_a_killed_workers_spill_files_are_removed(tmp_path):
    """DuckDB removes its spill directory when its database closes; a killed worker's stayed (510 MB
    in the probe)."""
    settings = Settings(home=tmp_path, sql_isolation="process", sql_workers=1, sql_memory_limit="64MB")
    lh = Lakehouse(settings)
    pool = workers.workers_for(settings)
    try:
        thread, answer = _long_query(lh, timeout_s=120, sql=SPILLING)
        worker = _busy_worker(pool)
        spill = tmp_path / "tmp" / "duckdb"
        deadline = time.monotonic() + 60
        while not any(p.is_dir() and any(p.iterdir()) for p in spill.glob(f"{worker._process.pid}-*")):
            assert time.monotonic() < deadline, "the query never spilled"
            time.sleep(0.1)
        worker._process.kill()
        thread.join(60)
        assert "killed by signal 9" in str(answer["error"])
        assert not list(spill.glob(f"{worker._process.pid}-*"))
    finally:
        workers.close_all()


SPILLING = "SELECT count(*) FROM (SELECT i, hash(i) AS h FROM range(200000000) t(i) ORDER BY h DESC OFFSET 1)"
