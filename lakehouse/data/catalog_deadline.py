"""A deadline of our own on a PostgreSQL catalog's answers, on connections already open.

The server ends a statement at `catalog_statement_timeout_s` itself, and a new connection gives up
at `catalog_connect_timeout_s`. A server that cannot answer at all (its processes frozen: SIGSTOP,
a paused VM, a disk that hangs) does neither, and its host's kernel still acknowledges every packet,
so TCP keepalive sees nothing wrong: a write on a pooled connection waited for good, an HTTP
request's thread with it. Each pooled connection gets a deadline at twice the statement timeout:
its liveness check on leaving the pool runs under one, and each statement starts one that lasts
until the next or until the connection is back in the pool. Past it the connection's socket is
shut: the waiting call fails as a dropped connection, which the pool replaces, and the catalog
names the wait.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

# The deadline of the connection this thread waits on (the one it started last), for the error's words.
_waiting = threading.local()


class Deadline:
    """One connection's deadline. `start` runs in the thread that is about to wait on it."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.passed = seconds, False
        self._timer: threading.Timer | None = None

    def start(self, dbapi_connection: Any) -> None:
        self.stop()
        self.passed = False
        self._timer = threading.Timer(self.seconds, self._cut, (dbapi_connection,))
        self._timer.daemon = True
        self._timer.start()
        _waiting.deadline = self

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if getattr(_waiting, "deadline", None) is self:
            _waiting.deadline = None

    def _cut(self, dbapi_connection: Any) -> None:
        """Shut the connection's socket under the waiting call (shut, not closed: the descriptor
        stays the driver's to close, so no other socket can take its number meanwhile)."""
        self.passed = True
        try:
            with socket.socket(fileno=os.dup(dbapi_connection.fileno())) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass  # already closed by its owner: nothing waits on it


def passed_in_this_thread() -> Deadline | None:
    """The deadline that ended this thread's wait, if one did."""
    deadline = getattr(_waiting, "deadline", None)
    return deadline if deadline is not None and deadline.passed else None


def watch_pool(engine: Any, seconds: float) -> None:
    """Put each of `engine`'s pooled connections under a deadline of `seconds`: the pool's liveness
    check on leaving the pool (`pool_pre_ping`; a connection that fails it is replaced), each
    statement, and what follows it until the connection is back in the pool (commit, rollback)."""
    from sqlalchemy import event

    ping = engine.dialect.do_ping

    def ping_under_deadline(dbapi_connection: Any) -> bool:
        deadline = Deadline(seconds)
        deadline.start(dbapi_connection)
        try:
            return ping(dbapi_connection)
        finally:
            deadline.stop()

    # this engine's own dialect: the pool calls it before any event could start a deadline
    engine.dialect.do_ping = ping_under_deadline

    def deadline_of(info: dict[str, Any]) -> Deadline:
        if "deadline" not in info:
            info["deadline"] = Deadline(seconds)
        return info["deadline"]

    @event.listens_for(engine, "before_cursor_execute")
    def restart_on_statement(conn: Any, _cursor: Any, *_args: Any) -> None:
        deadline_of(conn.connection.info).start(conn.connection.dbapi_connection)

    @event.listens_for(engine, "checkin")
    def stop_on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None and "deadline" in record.info:
            record.info["deadline"].stop()
