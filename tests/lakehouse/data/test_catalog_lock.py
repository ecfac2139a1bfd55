"""`catalog_locks`: a lock that machines sharing a PostgreSQL catalog take in turn, freed by the
server when its holder is SIGKILLed; none for a SQLite catalog; a catalog that cannot be reached
names the setting and hides the password."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest
from sqlalchemy import create_engine, text

from lakehouse.data.catalog_lock import KEEPALIVE, advisory_key, catalog_locks
from lakehouse.data.errors import CatalogUnavailable
from tests.fixtures.locks import warnings_heard

HOLDER = """
import sys
import threading
from lakehouse.data.catalog_lock import catalog_locks
with catalog_locks(sys.argv[1])("corpus-x"):
    print("holding", flush=True)
    sys.stdin.read()  # until killed
"""


@pytest.fixture
def catalog(postgres) -> str:
    return postgres.url(postgres.create_database())


def _free(url: str, name: str) -> bool:
    """Whether another session could take the lock now (it gives it back at once)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            taken = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(name)}).scalar()
            if taken:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(name)})
            return bool(taken)
    finally:
        engine.dispose()


def test_a_sqlite_catalog_is_one_machine_and_needs_no_lock(tmp_path):
    assert catalog_locks(f"sqlite:///{tmp_path / 'catalog.db'}") is None


def test_another_session_finds_it_held_until_released(catalog):
    hold = catalog_locks(catalog)
    assert hold is not None
    with hold("corpus-x") as lease:
        assert not _free(catalog, "corpus-x")
        lease.check()  # held: passes
        for setting, value in KEEPALIVE.items():  # a dead holder's host is noticed in about a minute
            assert lease.connection.execute(text(f"SHOW {setting}")).scalar() == str(value)
        assert _free(catalog, "corpus-y")  # names are apart
    assert _free(catalog, "corpus-x")


def test_a_second_holder_waits_for_the_first_and_says_why(catalog):
    first, second = catalog_locks(catalog), catalog_locks(catalog)
    assert first is not None and second is not None
    got_in = threading.Event()

    def wait_then_note() -> None:
        with second("corpus-x"):
            got_in.set()

    waiter = threading.Thread(target=wait_then_note)
    with warnings_heard("lakehouse.data.catalog_lock") as (warned, said), first("corpus-x"):
        waiter.start()
        assert warned.wait(60), "the second holder never said it was waiting"
        assert not got_in.is_set()
    waiter.join()
    assert got_in.is_set() and said == ["waiting for corpus-x: another machine is writing it"]


def test_a_sigkilled_holder_leaves_it_free(catalog):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, catalog], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        assert not _free(catalog, "corpus-x")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    hold = catalog_locks(catalog)
    assert hold is not None
    with hold("corpus-x"):  # the server ended the dead session and freed its lock
        assert not _free(catalog, "corpus-x")


def test_an_unreachable_catalog_names_the_setting_and_hides_the_password(postgres):
    url = postgres.url("catalog").replace(f":{postgres.port}/", ":1/")  # nothing listens on port 1
    hold = catalog_locks(url)
    assert hold is not None
    with pytest.raises(
        CatalogUnavailable,
        match=r"catalog database postgresql\+psycopg://lakehouse:\*\*\*@127.0.0.1:1/catalog "
        r"\(setting catalog_url \(LH_CATALOG_URL\)\) cannot be reached to lock 'corpus-x'",
    ) as caught:
        with hold("corpus-x"):
            pytest.fail("the lock cannot have been taken")
    assert postgres.password not in str(caught.value)


def test_a_waiter_whose_session_is_ended_gets_a_clear_error(catalog):
    first, second = catalog_locks(catalog), catalog_locks(catalog)
    assert first is not None and second is not None
    failures: list[BaseException] = []

    def wait() -> None:
        try:
            with second("corpus-x"):
                pytest.fail("the waiter cannot have got the lock")
        except CatalogUnavailable as exc:
            failures.append(exc)

    waiter = threading.Thread(target=wait)
    engine = create_engine(catalog)
    try:
        with warnings_heard("lakehouse.data.catalog_lock") as (warned, _), first("corpus-x"):
            waiter.start()
            assert warned.wait(60)
            with engine.connect() as conn:  # as a server restart or an operator's pg_terminate_backend would
                ended = 0
                while not ended:  # the waiter's backend is in pg_advisory_lock once it has warned
                    ended = conn.execute(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE query LIKE 'SELECT pg_advisory_lock(%' AND wait_event_type = 'Lock'"
                        )
                    ).scalar()
            waiter.join()
    finally:
        engine.dispose()
    assert len(failures) == 1, failures
    assert "cannot be reached to lock 'corpus-x'" in str(failures[0])
    assert _free(catalog, "corpus-x")  # the holder let go at the end of its block


def test_a_held_lock_whose_server_froze_counts_as_lost_at_its_check(catalog, monkeypatch):
    """The check before a write is made visible waited for good on a frozen server (SIGSTOP, a
    paused VM): its kernel acknowledges every packet, so keepalive never ends the session."""
    import os

    from lakehouse.data import catalog_lock
    from tests.fixtures.waiting import outcome_within

    monkeypatch.setattr(catalog_lock, "CHECK_DEADLINE_S", 2.0)
    locks = catalog_locks(catalog)
    assert locks is not None
    with locks("corpus-x") as lease:
        backend = lease.connection.execute(text("SELECT pg_backend_pid()")).scalar()
        os.kill(backend, signal.SIGSTOP)
        try:
            result = outcome_within(lease.check)
        finally:
            os.kill(backend, signal.SIGCONT)
    assert isinstance(result, CatalogUnavailable), result
    assert "the lock on 'corpus-x' was lost (no answer within 2 s), so nothing more is written" in str(result)
