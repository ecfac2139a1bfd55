"""SQL in capped worker processes (`sql_isolation`): what DuckDB's memory_limit does not bound (a
string built by `repeat`) fails in the worker with a clear error and leaves the caller's memory as
it was; a worker killed or stuck is replaced; errors keep their type and fields; the servers turn
it on, the CLI does not. Real worker processes, real DuckDB; the HTTP case is a real `lakehouse api`."""

from __future__ import annotations

import pickle
import threading
import time

import httpx
import pyarrow as pa
import pytest

from lakehouse.config import GiB, Settings
from lakehouse.core import Lakehouse
from lakehouse.data.errors import SqlError, SqlRejected, SqlTimeout, TableNotFound
from lakehouse.data.sql import workers
from tests.fixtures.http import api_process

# 2 GB in one string: DuckDB allocates it outside its buffer manager, in one block
HUGE_STRING = "SELECT length(repeat(repeat(chr(120), 1000), 2000000)) AS n"


def _peak_kib(pid: str | int = "self") -> int:
    status = open(f"/proc/{pid}/status").read()
    return int(status.split("VmHWM:")[1].split()[0])


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    home = tmp_path_factory.mktemp("sql-workers-home")
    settings = Settings(home=home, sql_isolation="process", sql_workers=1, sql_worker_memory=GiB)
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
        match=r"query stopped: it needs more memory than a SQL worker may use, 1.0GiB \(sql_worker_memory, "
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
        isolated.sql.query("SELECT count(*) FROM range(100000000000)", timeout_s=0.5)
    # an error whose __init__ takes its fields comes back whole (plain pickling calls cls(*args))
    packed = pickle.loads(pickle.dumps(workers._pack(TableNotFound("nmus", ["nums"], ["lakehouse.nums"]))))
    error = workers._unpack(packed)
    assert type(error) is TableNotFound and (error.name, error.suggestions) == ("nmus", ["nums"])
    assert str(error) == str(TableNotFound("nmus", ["nums"], ["lakehouse.nums"]))


def test_a_killed_worker_fails_its_query_with_the_reason_and_is_replaced(isolated):
    pool = _pool(isolated)
    answer: dict = {}

    def slow() -> None:
        try:
            isolated.sql.query("SELECT count(*) FROM range(100000000000)", timeout_s=60)
        except SqlError as exc:
            answer["error"] = exc

    thread = threading.Thread(target=slow)
    thread.start()
    worker = _busy_worker(pool)
    worker._process.kill()
    thread.join(30)
    assert not thread.is_alive()
    assert "killed by signal 9" in str(answer["error"])
    assert str(answer["error"]).startswith("query stopped: the SQL worker running it ended (killed by signal 9;")
    assert isolated.sql.query("SELECT max(x) FROM nums").rows == [[999]]


def test_a_worker_past_its_time_limit_and_the_grace_is_killed(isolated, monkeypatch):
    # `ops sql` runs without DuckDB's timer: only the caller's wait ends it
    monkeypatch.setattr(workers, "_GRACE_S", 0.5)
    settings = isolated.settings.model_copy(update={"sql_timeout_s": 0.5})
    pool = workers.workers_for(settings)
    with pytest.raises(SqlTimeout, match=r"ran longer than the time limit of 0.5 s"):
        isolated.observer.sql("SELECT count(*) FROM range(100000000000)", settings)
    assert pool._started == 0 and not pool._idle  # the stuck worker is gone
    columns, rows = isolated.observer.sql("SELECT count(*) AS n FROM ops", settings)
    assert columns == ["n"] and rows[0][0] >= 0


def test_a_query_waits_for_a_busy_worker_and_says_so_when_none_frees(isolated):
    pool = _pool(isolated)
    thread = threading.Thread(
        target=lambda: pytest.raises(
            SqlError, isolated.sql.query, "SELECT count(*) FROM range(100000000000)", timeout_s=20
        )
    )
    thread.start()
    _busy_worker(pool)
    with pytest.raises(SqlTimeout, match=r"query not started: all 1 SQL workers \(sql_workers\) were busy for its"):
        isolated.sql.query("SELECT 1", timeout_s=0.3)
    for worker in list(pool._busy):
        worker._process.kill()
    thread.join(30)


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
    with pytest.raises(ValueError, match="sql_worker_memory"):
        Settings(home=tmp_path, sql_worker_memory="100MB")


def test_the_api_answers_a_huge_string_with_an_error_and_does_not_grow(tmp_path):
    with api_process(tmp_path, env={"LH_SQL_WORKER_MEMORY": "1GiB"}) as (url, proc):
        with httpx.Client(base_url=url, timeout=120) as client:
            assert client.post("/v1/sql", json={"sql": "SELECT 42 AS n"}).json()["rows"] == [[42]]
            before = _peak_kib(proc.pid)
            response = client.post("/v1/sql", json={"sql": HUGE_STRING})
            assert response.status_code == 400
            assert "needs more memory than a SQL worker may use, 1.0GiB" in response.json()["error"]["message"]
            assert _peak_kib(proc.pid) - before < 200 * 1024
            assert client.post("/v1/sql", json={"sql": "SELECT 43 AS n"}).json()["rows"] == [[43]]
