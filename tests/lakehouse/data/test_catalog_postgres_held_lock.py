"""A PostgreSQL catalog whose table row is held by another session: a machine frozen in the
middle of a commit (SIGSTOP, a VM paused), an operator's open transaction, a `LOCK TABLE`.

Every writer of that table waited for the lock with no end: a CLI command hung, and each HTTP
request that wrote it held a server thread and a pooled connection for good. The catalog's
statements now end after `catalog_statement_timeout_s` with a 503-kind error that says why, and
a catalog session of ours left idle inside a transaction is ended by the server after as long, so
a frozen machine cannot keep the lock from the others."""

from __future__ import annotations

import time

import psycopg
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.errors import CatalogBusy, CatalogUnavailable
from lakehouse.errors import ErrorKind
from tests.fixtures.waiting import outcome_within

TIMEOUT_S = 2


@pytest.fixture
def catalog_url(postgres):
    return postgres.url(postgres.create_database())


def _lakehouse(tmp_path, catalog_url, name):
    return Lakehouse(Settings(home=tmp_path / name, catalog_url=catalog_url, catalog_statement_timeout_s=TIMEOUT_S))


def _write_in_thread(lh, rows):
    """The write's outcome, or "still waiting" after a minute (the code before waited for good)."""

    def write():
        lh.tables.write_arrow("t", pa.table({"n": rows}))
        return "written"

    return outcome_within(write)


def test_a_write_to_a_table_whose_catalog_row_another_session_holds_fails_after_the_timeout(tmp_path, catalog_url):
    lh = _lakehouse(tmp_path, catalog_url, "writer")
    try:
        lh.tables.write_arrow("t", pa.table({"n": [1]}))
        with psycopg.connect(catalog_url.replace("+psycopg", "")) as holder:
            holder.execute("SELECT * FROM iceberg_tables WHERE table_name = 't' FOR UPDATE")  # held, not committed
            started = time.monotonic()
            result = _write_in_thread(lh, [2])
            waited = time.monotonic() - started
            assert isinstance(result, CatalogBusy), result
            assert result.kind is ErrorKind.UNAVAILABLE
            assert "did not answer within 2 s (setting catalog_statement_timeout_s)" in str(result)
            assert "another session holds a lock it needs" in str(result)
            assert "landed is not known" not in str(result)  # the server rolled it back: it did not
            assert waited < 50  # bounded by the timeout (x the commit's statements), not the holder
            holder.rollback()
        # the lock gone, the same lakehouse writes again; the refused write left no row
        lh.tables.write_arrow("t", pa.table({"n": [3]}))
        assert sorted(lh.tables.read_arrow("t").column("n").to_pylist()) == [1, 3]
    finally:
        lh.close()


def test_a_frozen_machine_idle_in_its_catalog_transaction_loses_it_and_the_others_write(tmp_path, catalog_url):
    frozen, other = _lakehouse(tmp_path, catalog_url, "frozen"), _lakehouse(tmp_path, catalog_url, "other")
    try:
        frozen.tables.write_arrow("t", pa.table({"n": [1]}))
        # the frozen machine's own catalog connection, inside a commit that never finishes
        stalled = frozen.tables.catalog.engine.connect()
        stalled.exec_driver_sql("BEGIN")
        stalled.exec_driver_sql("SELECT * FROM iceberg_tables WHERE table_name = 't' FOR UPDATE")
        time.sleep(TIMEOUT_S + 1.5)  # the server ends the idle transaction, and its lock with it
        assert _write_in_thread(other, [2]) == "written"
        assert sorted(other.tables.read_arrow("t").column("n").to_pylist()) == [1, 2]
        with pytest.raises(CatalogUnavailable, match="idle-in-transaction"):
            stalled.exec_driver_sql("SELECT 1")  # what the machine hears when it thaws
        stalled.close()
    finally:
        frozen.close()
        other.close()


def test_the_cli_says_so_and_exits_2(tmp_path, catalog_url):
    from tests.fixtures.cli import run_cli_process

    data = tmp_path / "rows.csv"
    data.write_text("n\n1\n")
    env = {"LH_HOME": str(tmp_path / "cli"), "LH_CATALOG_URL": catalog_url, "LH_PREFECT_AUTOSTART": "false"}
    assert run_cli_process("ingest", str(data), "--table", "t", env=env).returncode == 0
    with psycopg.connect(catalog_url.replace("+psycopg", "")) as holder:
        holder.execute("LOCK TABLE iceberg_tables IN ACCESS EXCLUSIVE MODE")  # an operator's migration, say
        done = run_cli_process("ingest", str(data), "--table", "t", env=env | {"LH_CATALOG_STATEMENT_TIMEOUT_S": "2"})
    assert done.returncode == 2, done.stderr
    assert "did not answer within 2 s (setting catalog_statement_timeout_s)" in done.stderr
    assert "Traceback" not in done.stderr


def test_zero_asks_the_server_for_no_timeouts(tmp_path, catalog_url):
    """A pooler such as PgBouncer refuses a connection that carries libpq `options`."""
    off = Lakehouse(Settings(home=tmp_path / "h", catalog_url=catalog_url, catalog_statement_timeout_s=0))
    timed = _lakehouse(tmp_path, catalog_url, "timed")
    try:
        off.tables.write_arrow("t", pa.table({"n": [1]}))
        with off.tables.catalog.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
        with timed.tables.catalog.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "2s"
    finally:
        off.close()
        timed.close()
