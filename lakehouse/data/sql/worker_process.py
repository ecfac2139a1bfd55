"""A SQL worker process (`python -P -m lakehouse.data.sql.worker_process FD`, started by
`lakehouse.data.sql.workers`): its data segment capped, it answers one request at a time over the
socket pair it was given, and retires when a query left it holding over half its cap."""

from __future__ import annotations

import os
import re
import resource
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lakehouse.data.errors import SqlError
from lakehouse.data.sql.engine import SqlEngine, query_arrow
from lakehouse.data.sql.workers import RETIRE_SHARE, pack, unpack
from lakehouse.data.tables import Tables


def _serve(conn: Connection) -> None:
    try:
        settings = conn.recv()
    except (EOFError, OSError):
        return
    _exit_with_parent()
    cap = int(settings.sql_worker_memory)
    resource.setrlimit(resource.RLIMIT_DATA, (cap, resource.getrlimit(resource.RLIMIT_DATA)[1]))

    engine = SqlEngine(settings.model_copy(update={"sql_isolation": "off"}), Tables(settings))
    while True:
        try:
            task, kwargs = conn.recv()
        except (EOFError, OSError):  # the server is gone
            return
        try:
            value = engine.query(**kwargs) if task == "query" else query_arrow(settings=engine.settings, **kwargs)
            result: tuple = ("ok", value)
        except MemoryError:
            result = ("error", pack(SqlError(_out_of_memory(settings, "a Python allocation failed"))))
        except SqlError as exc:
            if "bad allocation" in str(exc):  # DuckDB's words for an allocation the cap refused
                failed = re.search(r"[Ff]ailed to allocate[^()]*?\d+(?: bytes)?", str(exc))
                exc = SqlError(_out_of_memory(settings, failed.group(0) if failed else "an allocation failed"))
            result = ("error", pack(exc))
        except Exception as exc:
            result = ("error", pack(exc))
        retiring = _data_segment() > RETIRE_SHARE * cap  # what the query left would fail the next one
        try:
            conn.send((*result, retiring))
        except Exception as exc:  # a value or an error that does not pickle, or no memory to do so
            text = str(unpack(result[1])) if result[0] == "error" else f"the answer could not be sent back: {exc}"
            conn.send(("error", pack(SqlError(text)), retiring))
        if retiring:
            return


def _exit_with_parent() -> None:
    """The server SIGKILLed: nobody closes our socket while a query runs, so watch for it."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _data_segment() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmData:")[1].split()[0]) * 1024


def _out_of_memory(settings: Any, detail: str) -> str:
    return (
        f"query stopped: it needs more memory than a SQL worker may use, "
        f"{settings.sql_worker_memory.human_readable()} (sql_worker_memory, LH_SQL_WORKER_MEMORY; {detail}): "
        "build smaller strings or lists, filter earlier, or aggregate in SQL"
    )


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
    # Nothing to tear down: the interpreter's own teardown printed ~40 lines of DuckDB's nanobind
    # "leaked instance" report on the terminal of every command that used a worker.
    sys.stderr.flush()
    os._exit(0)
