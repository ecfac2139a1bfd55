"""SQL for callers a server does not trust runs in worker processes whose memory is capped.

DuckDB's `memory_limit` bounds its buffer manager (sorts, joins, aggregates), not what scalar
functions build: `repeat(chr(120), 3000000000)` took an API process to 7.5 GB, and a few such
requests at once would have left the kernel's OOM killer to choose what to stop. A worker's data
segment (its heap and anonymous maps) is capped with RLIMIT_DATA (`sql_worker_memory`), so DuckDB's
allocation fails inside the worker and the query ends with DuckDB's own out-of-memory error; the
server's memory does not move. A worker that dies anyway (killed, crashed) is replaced, and one
that outlives the query's time limit by `_GRACE_S` is killed.

`sql_isolation`: "auto" isolates in the processes that serve others (`lakehouse api`,
`lakehouse mcp` call `serve_untrusted()`), "process" everywhere, "off" nowhere. Workers start on
the first query (about a second: DuckDB, pyarrow and the catalog are imported) and end with the
process (daemon processes; a worker whose server is gone finds its pipe closed and exits).
"""

from __future__ import annotations

import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lakehouse.data.errors import SqlError, SqlTimeout

_CODE_ROOT = str(Path(__file__).resolve().parents[3])  # the worker runs this same code
_GRACE_S = 10.0  # past the query's own time limit (the worker interrupts DuckDB at it)
_serving_untrusted = False
_pools: dict[str, SqlWorkers] = {}
_pools_lock = threading.Lock()


def serve_untrusted() -> None:
    """This process answers callers it does not trust: under `sql_isolation = "auto"` its SQL runs
    in capped workers from now on."""
    global _serving_untrusted
    _serving_untrusted = True


def isolating(settings: Any) -> bool:
    mode = settings.sql_isolation
    return mode == "process" or (mode == "auto" and _serving_untrusted)


def workers_for(settings: Any) -> SqlWorkers:
    """The process's worker pool for these settings (one per distinct settings: a server has one)."""
    key = settings.model_dump_json()
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = SqlWorkers(settings)
        return pool


def close_all() -> None:
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


class SqlWorkers:
    """Up to `sql_workers` processes, each answering one request at a time over a pipe."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._started = 0
        self._cond = threading.Condition()
        self._closed = False

    def run(self, task: str, kwargs: dict[str, Any], timeout_s: float) -> Any:
        """`task` ("query" or "ops") run in a worker: its result, or the exception it raised."""
        worker = self._acquire(timeout_s)
        try:
            outcome = worker.ask((task, kwargs), timeout_s + _GRACE_S)
        except BaseException:
            worker.kill()
            self._release(worker)
            raise
        self._release(worker)
        if outcome is _TIMED_OUT:
            raise SqlTimeout(f"query stopped: it ran longer than the time limit of {timeout_s:g} s")
        if outcome is _DIED:
            raise SqlError(
                f"query stopped: the SQL worker running it ended ({worker.exit_text()}; the server's log has "
                f"its last words, if any); if it ran out of memory: a worker may use "
                f"{self.settings.sql_worker_memory.human_readable()} (sql_worker_memory, LH_SQL_WORKER_MEMORY)"
            )
        status, value = outcome
        if status == "ok":
            return value
        raise _unpack(value)

    def _acquire(self, timeout_s: float) -> _Worker:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._idle and self._started >= self.settings.sql_workers:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise SqlTimeout(
                        f"query not started: all {self.settings.sql_workers} SQL workers (sql_workers) were busy "
                        f"for its time limit of {timeout_s:g} s; try again"
                    )
                self._cond.wait(left)
            if self._idle:
                worker = self._idle.pop()
                self._busy.add(worker)
                return worker
            self._started += 1
        try:
            worker = _Worker(self.settings)
        except BaseException:
            with self._cond:
                self._started -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._busy.add(worker)
        return worker

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            self._busy.discard(worker)
            if worker.alive() and not self._closed:
                self._idle.append(worker)
            else:
                worker.kill()
                self._started -= 1
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            worker.kill()


_TIMED_OUT = object()
_DIED = object()


class _Worker:
    """One `python -m lakehouse.data.sql.workers FD` process and its end of a socket pair. Not
    multiprocessing's spawn: that re-runs the parent's main script, which a script without a
    `__main__` guard does not survive."""

    def __init__(self, settings: Any) -> None:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stdout may be a protocol (`lakehouse mcp` over stdio)
                env=_worker_environment(),
            )
            self._conn = Connection(os.dup(ours.fileno()))
        self._conn.send(settings)

    def ask(self, request: tuple, timeout_s: float) -> Any:
        try:
            self._conn.send(request)
            if not self._conn.poll(timeout_s):
                self.kill()
                return _TIMED_OUT
            return self._conn.recv()
        except (EOFError, OSError):
            self.kill()
            return _DIED

    def alive(self) -> bool:
        return self._process.poll() is None and not self._conn.closed

    def exit_text(self) -> str:
        code = self._process.poll()
        if code is None:
            return "it closed its end of the pipe"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(5)
        self._conn.close()


def _worker_environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, (_CODE_ROOT, os.environ.get("PYTHONPATH"))))
    # pyarrow's default pool (mimalloc) reserves a 1 GiB arena up front, which the cap would count
    return {**os.environ, "PYTHONPATH": path, "ARROW_DEFAULT_MEMORY_POOL": "system"}


# the worker's side -------------------------------------------------------------------------------
def _serve(conn: Connection) -> None:
    from lakehouse.core import Lakehouse
    from lakehouse.observe.observer import ops_sql

    try:
        settings = conn.recv()
    except (EOFError, OSError):
        return
    limit = int(settings.sql_worker_memory)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    lakehouse = Lakehouse(settings.model_copy(update={"sql_isolation": "off"}))
    while True:
        try:
            task, kwargs = conn.recv()
        except (EOFError, OSError):  # the server is gone
            return
        try:
            if task == "query":
                result: Any = ("ok", lakehouse.sql.query(**kwargs))
            else:
                result = ("ok", ops_sql(kwargs["table"], kwargs["query"], lakehouse.settings))
        except MemoryError:
            result = ("error", _pack(SqlError(_out_of_memory(settings, "a Python allocation failed"))))
        except SqlError as exc:
            if "bad allocation" in str(exc):  # DuckDB's words for an allocation the cap refused
                failed = re.search(r"[Ff]ailed to allocate[^()]*?\d+(?: bytes)?", str(exc))
                exc = SqlError(_out_of_memory(settings, failed.group(0) if failed else "an allocation failed"))
            result = ("error", _pack(exc))
        except Exception as exc:
            result = ("error", _pack(exc))
        try:
            conn.send(result)
        except Exception as exc:  # a value or an error that does not pickle, or no memory to do so
            text = str(_unpack(result[1])) if result[0] == "error" else f"the answer could not be sent back: {exc}"
            conn.send(("error", _pack(SqlError(text))))


def _out_of_memory(settings: Any, detail: str) -> str:
    return (
        f"query stopped: it needs more memory than a SQL worker may use, "
        f"{settings.sql_worker_memory.human_readable()} (sql_worker_memory, LH_SQL_WORKER_MEMORY; {detail}): "
        "build smaller strings or lists, filter earlier, or aggregate in SQL"
    )


def _pack(exc: BaseException) -> tuple:
    """An exception as (class, args, attributes): errors whose __init__ takes their fields
    (TableNotFound(name, suggestions, ...)) do not survive plain pickling, which calls cls(*args)."""
    return type(exc), exc.args, dict(vars(exc))


def _unpack(packed: tuple) -> BaseException:
    cls, args, state = packed
    exc = cls.__new__(cls)
    exc.args = args
    vars(exc).update(state)
    return exc


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
