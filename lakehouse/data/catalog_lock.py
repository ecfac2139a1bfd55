"""Named locks that hold across machines, kept by the catalog database they already share.

Machines share a lakehouse through one PostgreSQL catalog and one object store; each has its own
LH_HOME, so a lock file there keeps apart only the processes of one host. `catalog_locks` turns a
PostgreSQL catalog URL into a lock factory: holding a name takes a session advisory lock
(`pg_advisory_lock`) on a connection of its own, closed on release. PostgreSQL frees the lock when
that session ends, so a writer that is SIGKILLed, or whose host dies, never leaves it held. A dead
host sends nothing, so its session ends only when the server's TCP keepalive gives up: the lock's
session asks for probes after 30 s of silence (`KEEPALIVE`), so about a minute instead of the
operating system's default of over two hours. A SQLite catalog is one machine's own: there is
nothing to share, and no factory.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from lakehouse.data.catalog_deadline import Deadline
from lakehouse.data.catalog_open import unreachable_error

log = logging.getLogger(__name__)

LockFactory = Callable[[str], AbstractContextManager["CatalogLease"]]
# The server's probes on the lock's connection: idle seconds, seconds between probes, probes lost.
KEEPALIVE = {"tcp_keepalives_idle": 30, "tcp_keepalives_interval": 10, "tcp_keepalives_count": 3}
# A held lock's check before a write is made visible: a server that gives no answer in this time
# (its processes frozen, which its kernel's acknowledgements hide from keepalive) counts as lost.
CHECK_DEADLINE_S = 30.0


def advisory_key(name: str) -> int:
    """The signed 64-bit key PostgreSQL's advisory locks take, the same for a name on every machine."""
    digest = hashlib.blake2b(f"lakehouse:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class CatalogLease:
    """A held lock: its session, and a check that it is still held before a write is made visible."""

    def __init__(self, name: str, connection: Any) -> None:
        self.name, self.connection = name, connection

    def check(self) -> None:
        """Raises CatalogUnavailable if the session ended (a server restart, an operator, a network
        cut), or its server gives no answer within CHECK_DEADLINE_S (frozen): the lock went, or may
        go, with it, so another machine may be writing the same thing now."""
        from sqlalchemy import text
        from sqlalchemy.exc import OperationalError

        deadline = Deadline(CHECK_DEADLINE_S)
        deadline.start(self.connection.connection.dbapi_connection)
        try:
            self.connection.execute(text("SELECT 1"))
        except OperationalError as exc:
            silent = f" (no answer within {CHECK_DEADLINE_S:g} s)" if deadline.passed else ""
            lost = f": the lock on {self.name!r} was lost{silent}, so nothing more is written"
            raise unreachable_error(self.connection.engine.url, exc, lost) from None
        finally:
            deadline.stop()


@functools.cache
def _lock_engine(catalog_url: str) -> Any:
    """One engine per catalog URL, made on first use (sqlalchemy stays unloaded for commands that
    write nothing). NullPool: closing a connection ends its session, so a lock can never stay
    behind in a pool."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(catalog_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")


def catalog_locks(catalog_url: str) -> LockFactory | None:
    """A factory of cross-machine locks when the catalog is PostgreSQL, else None."""
    if catalog_url.split(":", 1)[0].split("+", 1)[0] not in ("postgresql", "postgres"):
        return None

    @contextmanager
    def hold(name: str) -> Iterator[CatalogLease]:
        from sqlalchemy import text
        from sqlalchemy.exc import OperationalError

        engine, key = _lock_engine(catalog_url), advisory_key(name)
        try:
            conn = engine.connect()
        except OperationalError as exc:
            raise unreachable_error(engine.url, exc, f" to lock {name!r}") from None
        try:
            try:
                for setting, value in KEEPALIVE.items():  # session settings any role may change
                    conn.execute(text(f"SET {setting} = {int(value)}"))
                if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                    log.warning("waiting for %s: another machine is writing it", name)
                    conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            except OperationalError as exc:  # the server went away while we asked or waited
                raise unreachable_error(engine.url, exc, f" to lock {name!r}") from None
            yield CatalogLease(name, conn)
        finally:
            conn.close()  # ends the session, which frees the lock

    return hold
