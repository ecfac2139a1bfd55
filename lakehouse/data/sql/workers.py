"""SQL for callers a server does not trust runs in worker processes whose memory is capped.

DuckDB's `memory_limit` bounds its buffer manager (sorts, joins, aggregates), not what scalar
functions build: `repeat(chr(120), 3000000000)` took an API process to 7.5 GB, and a few such
requests at once would have left the kernel's OOM killer to choose what to stop. A worker's data
segment (its heap and anonymous maps) is capped with RLIMIT_DATA (`sql_worker_memory`), so DuckDB's
allocation fails inside the worker and the query ends with an out-of-memory error; the server's
memory does not move. A worker left holding more than half its cap retires after answering; one
that dies (killed, crashed) is replaced, and one that outlives the query's time limit by `_GRACE_S`
is killed. A query waits at most `_QUEUE_WAIT_S` for a free worker (then 503), so callers queued
behind slow queries do not fill the server's request threads.

`sql_isolation`: "auto" isolates in the processes that serve others (`lakehouse api`,
`lakehouse mcp` call `serve_untrusted()`), "process" everywhere, "off" nowhere. Workers start on
the first query (about a second: DuckDB, pyarrow and the catalog are imported) and end with the
server: a worker whose server is gone (even SIGKILLed) sees it within a second and exits.
"""

from __future__ import annotations

import os
import pickle
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lakehouse.data.errors import SqlBusy, SqlCallerGone, SqlError, SqlSettingError, SqlTimeout, SqlWorkerFailed
from lakehouse.errors import LakehouseError

_CODE_ROOT = str(Path(__file__).resolve().parents[3])  # the worker runs this same code
_GRACE_S = 10.0  # past the query's own time limit (the worker interrupts DuckDB at it)
_QUEUE_WAIT_S = 5.0  # the longest a query waits for a busy worker
_CALLER_CHECK_S = 0.25  # how often a running query asks whether its caller is still there
# Whether the caller of this query has gone (an HTTP client that closed its connection): set by the
# HTTP layer. A worker left running for nobody held its slot to the time limit, and two impatient
# clients made every other query wait, then fail, for half a minute.
CALLER_GONE: ContextVar[Callable[[], bool] | None] = ContextVar("sql_caller_gone", default=None)
_BUFFERED_BYTES = 64 * 1024  # a request the socket takes without the worker reading (its buffer: ~200 KB)
RETIRE_SHARE = 0.5  # a worker holding more than this share of its cap after a query retires
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
    """Up to `sql_workers` processes, each answering one request at a time over a socket pair."""

    def __init__(self, settings: Any) -> None:
        _check_cap(int(settings.sql_worker_memory))
        self.settings = settings
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._started = 0
        self._cond = threading.Condition()
        self._closed = False

    def run(self, task: str, kwargs: dict[str, Any], timeout_s: float) -> Any:
        """`task` ("query": `SqlEngine.query(**kwargs)`, "arrow": `query_arrow(**kwargs)`) run in a
        worker within `timeout_s` all told: its result, or the error it raised."""
        deadline = time.monotonic() + timeout_s
        worker = self._acquire(min(timeout_s, _QUEUE_WAIT_S))
        left = deadline - time.monotonic()
        if task == "query":  # the worker's DuckDB stops the query at what is left of its time
            kwargs = {**kwargs, "timeout_s": max(left, 0.001)}
        outcome: Any = _DIED
        try:
            outcome = worker.ask((task, kwargs), left + _GRACE_S)
        finally:
            self._release(worker, retiring=isinstance(outcome, tuple) and outcome[2])
        status, value, _ = outcome if isinstance(outcome, tuple) else ("", None, False)
        if outcome is _CALLER_LEFT:
            raise SqlCallerGone("query stopped: its caller went away before the answer (its worker was ended)")
        if outcome is _TIMED_OUT or (status == "error" and value[0] is SqlTimeout):  # its limit, not what was left
            raise SqlTimeout(
                f"query stopped: it ran longer than the time limit of {timeout_s:g} s (sql_timeout_s, LH_SQL_TIMEOUT_S)"
            )
        if outcome is _DIED:
            raise SqlError(
                f"query stopped: the SQL worker running it ended ({worker.exit_text()}; the server's log has "
                f"its last words, if any); if it ran out of memory: a worker may use "
                f"{self.settings.sql_worker_memory.human_readable()} (sql_worker_memory, LH_SQL_WORKER_MEMORY)"
            )
        if status == "ok":
            return value
        raise unpack(value)

    def _acquire(self, wait_s: float) -> _Worker:
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                while self._idle:  # one that died while idle is replaced, not handed a query
                    worker = self._idle.pop()
                    if worker.alive():
                        self._busy.add(worker)
                        return worker
                    worker.kill()
                    self._started -= 1
                if self._started < self.settings.sql_workers:
                    break
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise SqlBusy(
                        f"all {self.settings.sql_workers} SQL workers (sql_workers, LH_SQL_WORKERS) stayed busy for "
                        f"{wait_s:g} s: try the query again in a moment"
                    )
                self._cond.wait(left)
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

    def _release(self, worker: _Worker, retiring: bool = False) -> None:
        with self._cond:
            self._busy.discard(worker)
            if worker.alive() and not self._closed and not retiring:
                self._idle.append(worker)
            else:
                worker.kill()
                self._started -= 1
            self._cond.notify()

    def close(self) -> None:
        """Every worker ends now; a query still running fails at once (its server is stopping)."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
            self._cond.notify_all()
        for worker in idle + busy:
            worker.kill()


def _check_cap(cap: int) -> None:
    """A cap the kernel would refuse (above the hard limit, `ulimit -d`) made every worker die at
    start, reported as out of memory: refused here, by name."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY and cap > hard:
        raise SqlSettingError(
            f"sql_worker_memory (LH_SQL_WORKER_MEMORY) = {cap} bytes is above this process's hard data limit, "
            f"{hard} bytes (ulimit -d): lower it, or raise the limit"
        )


_TIMED_OUT = object()
_DIED = object()
_CALLER_LEFT = object()
_ANSWERED = object()


class _Worker:
    """One `python -P -m lakehouse.data.sql.worker_process FD` process and its end of a socket pair. Not
    multiprocessing's spawn: that re-runs the parent's main script, which a script without a
    `__main__` guard does not survive. `-P`: no module is taken from the server's working directory."""

    def __init__(self, settings: Any) -> None:
        self._home = settings.home_dir
        ours, theirs = socket.socketpair()
        with ours, theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-m", "lakehouse.data.sql.worker_process", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stdout may be a protocol (`lakehouse mcp` over stdio)
                env=_worker_environment(),
            )
            self._conn = Connection(os.dup(ours.fileno()))
        self._conn.send(settings)
        self._killed = False
        self._kill_lock = threading.Lock()

    def ask(self, request: tuple, timeout_s: float) -> Any:
        """The worker's answer, `_TIMED_OUT` (it is killed) or `_DIED`. A request larger than a
        socket buffer could block its send on a stuck worker for ever: a watchdog kills the worker
        at the deadline (a thread start costs ~0.2 ms, so only for those)."""
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        watchdog = threading.Timer(timeout_s, self._expire) if len(payload) > _BUFFERED_BYTES else None
        if watchdog is not None:
            watchdog.daemon = True
            watchdog.start()
        try:
            self._conn.send_bytes(payload)
            waited = self._wait_for_answer(timeout_s)
            if waited is _ANSWERED and not self._killed:
                return self._conn.recv()
            if waited is _CALLER_LEFT:
                self.kill()
                return _CALLER_LEFT
        except (EOFError, OSError):
            if not self._killed:
                self._reap()
                return _DIED
        finally:
            if watchdog is not None:
                watchdog.cancel()
        self.kill()
        return _TIMED_OUT

    def _wait_for_answer(self, timeout_s: float) -> object:
        """`_ANSWERED`, `_CALLER_LEFT` or `_TIMED_OUT`."""
        gone = CALLER_GONE.get()
        if gone is None:
            return _ANSWERED if self._conn.poll(timeout_s) else _TIMED_OUT
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if self._conn.poll(min(left, _CALLER_CHECK_S)):
                return _ANSWERED
            if gone():
                return _CALLER_LEFT
        return _TIMED_OUT

    def _expire(self) -> None:
        self._killed = True
        self._process.kill()

    def alive(self) -> bool:
        return self._process.poll() is None and not self._conn.closed

    def exit_text(self) -> str:
        code = self._process.poll()
        if code is None:
            return "it closed its end of the pipe"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def _reap(self) -> None:
        """After the worker closed its end: its own exit code, not our kill's, if it comes soon."""
        try:
            self._process.wait(2)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def kill(self) -> None:
        # A stopping server's close_all and the query's own thread (which saw the pipe end) both kill
        # it: two unserialized closes of one pipe closed its descriptor twice (EBADF in that thread).
        with self._kill_lock:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait(5)
            self._conn.close()
        # DuckDB removes its spill directory when its database closes; a killed worker's stays
        for spill in (self._home / "tmp" / "duckdb").glob(f"{self._process.pid}-*"):
            shutil.rmtree(spill, ignore_errors=True)


def _worker_environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, (_CODE_ROOT, os.environ.get("PYTHONPATH"))))
    # pyarrow's default pool (mimalloc) reserves a 1 GiB arena up front, which the cap would count
    return {**os.environ, "PYTHONPATH": path, "ARROW_DEFAULT_MEMORY_POOL": "system"}


def pack(exc: BaseException) -> tuple:
    """An error as (class, args, attributes): errors whose __init__ takes their fields
    (TableNotFound(name, suggestions, ...)) do not survive plain pickling, which calls cls(*args).
    What is not one of ours becomes `SqlWorkerFailed` (500, as it would be in-process)."""
    if not isinstance(exc, LakehouseError):
        exc = SqlWorkerFailed(f"{type(exc).__name__}: {exc}")
    return type(exc), exc.args, dict(vars(exc))


def unpack(packed: tuple) -> LakehouseError:
    cls, args, state = packed
    exc = cls.__new__(cls)
    exc.args = args
    vars(exc).update(state)
    return exc
