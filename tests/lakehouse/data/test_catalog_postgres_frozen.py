"""A PostgreSQL catalog whose server stops answering on a connection already open: the server's
processes frozen (SIGSTOP, a paused VM, a disk that hangs) while their host's kernel still
acknowledges every packet, so neither TCP keepalive nor the server's own statement timeout ends the
wait. A write waited for good on its pooled connection; it now gives up on that connection after
twice `catalog_statement_timeout_s`: a frozen session is replaced by a new one, a frozen server is
named as not answering, and nothing is written."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.errors import CatalogUnavailable
from tests.fixtures.waiting import outcome_within

TIMEOUT_S = 2


@pytest.fixture
def database(postgres):
    return postgres.create_database()


def _lakehouse(tmp_path, postgres, database):
    url = postgres.url(database)
    settings = Settings(
        home=tmp_path / "h", catalog_url=url, catalog_statement_timeout_s=TIMEOUT_S, catalog_connect_timeout_s=2
    )
    return Lakehouse(settings)


def _write_in_thread(lh, rows):
    """The write's outcome, or "still waiting" after a minute (the code before waited for good)."""

    def write():
        lh.tables.write_arrow("t", pa.table({"n": rows}))
        return "written"

    return outcome_within(write)


def _sessions_of(postgres, database) -> list[int]:
    """The server processes serving `database`, from a session of the test's own (closed after)."""
    with psycopg.connect(postgres.url(database).replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
        )
        return [pid for (pid,) in rows]


@contextmanager
def _frozen(pids: list[int]) -> Iterator[None]:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def _postmaster(postgres) -> int:
    return int((postgres.socket_dir / "data" / "postmaster.pid").read_text().split()[0])


def test_a_frozen_pooled_session_is_replaced_and_the_write_lands(tmp_path, postgres, database):
    lh = _lakehouse(tmp_path, postgres, database)
    try:
        lh.tables.write_arrow("t", pa.table({"n": [1]}))  # the pool now keeps a session open
        sessions = _sessions_of(postgres, database)
        assert sessions
        with _frozen(sessions):
            assert _write_in_thread(lh, [2]) == "written"
        assert sorted(lh.tables.read_arrow("t").column("n").to_pylist()) == [1, 2]
    finally:
        lh.close()


def test_a_frozen_server_is_named_and_nothing_is_written(tmp_path, postgres, database):
    lh = _lakehouse(tmp_path, postgres, database)
    try:
        lh.tables.write_arrow("t", pa.table({"n": [1]}))
        with _frozen([_postmaster(postgres), *_sessions_of(postgres, database)]):
            result = _write_in_thread(lh, [2])
        assert isinstance(result, CatalogUnavailable), result
        assert "(setting catalog_url (LH_CATALOG_URL)) cannot be reached" in str(result)
        # thawed, the same lakehouse reads and writes again; the refused write left no row
        lh.tables.write_arrow("t", pa.table({"n": [3]}))
        assert sorted(lh.tables.read_arrow("t").column("n").to_pylist()) == [1, 3]
    finally:
        lh.close()


def test_a_session_frozen_mid_statement_is_named_as_not_answering(tmp_path, postgres, database):
    lh = _lakehouse(tmp_path, postgres, database)
    try:
        lh.tables.write_arrow("t", pa.table({"n": [1]}))
        with lh.tables.catalog.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            with _frozen(_sessions_of(postgres, database)):
                result = outcome_within(lambda: conn.exec_driver_sql("SELECT 1"))
        assert isinstance(result, CatalogUnavailable), result
        assert "did not answer within 4 s (twice the setting catalog_statement_timeout_s)" in str(result)
        assert "its server is stopped or frozen" in str(result)
    finally:
        lh.close()
