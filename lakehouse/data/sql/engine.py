"""Read-only SQL over the Iceberg tables, in an in-process DuckDB.

Each table the query names becomes a view over the data files of its current (or requested)
snapshot: on a local warehouse DuckDB's own `read_parquet` with Iceberg field-id mapping, elsewhere
a pyarrow dataset (see `sql_sources`), so projections and filters are pushed into the Parquet scan.
The connection is locked: no file access outside the warehouse, no extension loading, no Python
variable lookup, no configuration changes. Each database is bounded: `sql_memory_limit` (a query
past it spills under LH_HOME/tmp/duckdb or fails), `sql_threads`. A timer thread interrupts a query
past its time limit; rows are fetched in small chunks and a result larger than
`sql_result_max_bytes` is refused while fetching, so an oversized answer is never materialised.
"""

from __future__ import annotations

import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from pyiceberg.exceptions import NoSuchTableError

from lakehouse.common.suggest import did_you_mean
from lakehouse.config import Settings
from lakehouse.data.errors import (
    SnapshotFilesMissing,
    SqlError,
    SqlResultTooLarge,
    SqlTimeout,
    StorageError,
    missing_path,
)
from lakehouse.data.sql import workers
from lakehouse.data.sql.guard import SqlRejected, check_read_only, lock_down, open_database
from lakehouse.data.sql.sources import PLACEHOLDER, ScanSource, quote, snapshot_source
from lakehouse.data.tables import DEFAULT_NAMESPACE, TableError, Tables

__all__ = ["SqlEngine", "SqlResult", "SqlError", "SqlTimeout", "SqlResultTooLarge", "SqlRejected"]

_MiB = 1 << 20
_CHUNK_BYTES = _MiB  # aim for about this much per fetched chunk, so the cap is checked often
_FIRST_CHUNK_ROWS = 16


_SCALAR_BYTES = {type(None): 8, bool: 8, int: 8, float: 8}


def _row_size(row: Sequence[Any]) -> int:
    """About how many bytes a row takes in the answer: strings by length, numbers as 8."""
    total = 2
    for value in row:
        kind = type(value)
        if kind is str:
            total += len(value) + 2
        else:
            total += _SCALAR_BYTES.get(kind) or _size(value)
    return total


def _size(value: Any) -> int:
    """About how many bytes `value` takes in the answer (its JSON text, roughly)."""
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return len(value) + 2
    if value is None or isinstance(value, (bool, int, float)):
        return 8
    if isinstance(value, Mapping):
        return 2 + sum(_size(k) + _size(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return 2 + sum(_size(v) for v in value)
    return len(str(value)) + 2  # decimals, dates, times, UUIDs, intervals


def _mib(n: int) -> str:
    return f"{n / _MiB:g} MiB" if n >= _MiB else f"{n} bytes"


@dataclass
class SqlResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool

    @property
    def row_count(self) -> int:
        return len(self.rows)


class SqlEngine:
    def __init__(self, settings: Settings, tables: Tables, cache_size: int = 64) -> None:
        self.settings = settings
        self.tables = tables
        self._sources: OrderedDict[tuple, Any] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._shared: duckdb.DuckDBPyConnection | None = None
        self._shared_views: dict[str, tuple] = {}  # view name (lower) -> source key it shows
        from pyiceberg.io.pyarrow import PyArrowFileIO

        # DuckDB may read Parquet files under a local warehouse and nothing else (a plain path, as the
        # default is, or a file:// URL: read as pyiceberg reads it).
        scheme, _, root = PyArrowFileIO.parse_location(settings.warehouse)
        self._local_root = Path(root).resolve() if scheme == "file" else None

    def query(
        self,
        sql: str,
        snapshot: int | None = None,
        row_cap: int | None = None,
        timeout_s: float | None = None,
        max_bytes: int | None = None,
    ) -> SqlResult:
        """Run one read-only query; at most `row_cap` rows come back (`truncated` says so). More
        than `max_bytes` (default `sql_result_max_bytes`) in those rows is a `SqlResultTooLarge`."""
        timeout = self.settings.sql_timeout_s if timeout_s is None else timeout_s
        if workers.isolating(self.settings):
            kwargs = dict(sql=sql, snapshot=snapshot, row_cap=row_cap, timeout_s=timeout_s, max_bytes=max_bytes)
            return workers.workers_for(self.settings).run("query", kwargs, timeout)
        shape = check_read_only(sql)
        cap = self.settings.sql_row_cap if row_cap is None else row_cap
        byte_cap = self.settings.sql_result_max_bytes if max_bytes is None else max_bytes
        if cap < 0:
            raise SqlError(f"row_cap must be 0 or more, got {cap}")
        if byte_cap <= 0:
            raise SqlError(f"max_bytes must be positive, got {byte_cap}")
        if timeout <= 0:
            raise SqlError(f"timeout_s must be positive, got {timeout}")
        bindings = self._bindings(shape.tables, snapshot)
        self._forget_views({n.lower() for sch, n in shape.tables if sch is None} - {b[1].lower() for b in bindings})
        con = self._open(bindings)
        try:
            return self._run(con, sql, cap, timeout, byte_cap)
        finally:
            con.close()

    def connect(self, tables: Iterable[str] = ()) -> duckdb.DuckDBPyConnection:
        """A locked-down connection with `tables` registered, for callers that run several
        queries over the same data; the caller closes it. Statements are not guarded here."""
        for name in tables:
            self.tables.load(name)  # unknown names: TableNotFound with suggestions
        refs: set[tuple[str | None, str]] = set()
        for t in tables:
            schema, dot, name = t.partition(".")
            refs.add((schema, name) if dot else (None, t))
        return self._open(self._bindings(refs, None))

    def _open(self, bindings: list[tuple]) -> duckdb.DuckDBPyConnection:
        """Bare table names: a cursor (its own session, temp views) on one locked database, which
        costs ~1 ms instead of ~15 ms for a new database. `namespace.name` needs a real schema,
        so those queries get a private database, locked after registering."""
        private = any(schema is not None for schema, *_ in bindings)
        con = open_database() if private else self._shared_cursor()
        try:
            self._register(con, bindings, shared=not private)
            if private:
                self._lock_down(con)
        except BaseException:
            con.close()
            raise
        return con

    def _shared_cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._shared is None:
                db = open_database()
                try:
                    self._lock_down(db)
                except BaseException:
                    db.close()
                    raise
                self._shared = db
            return self._shared.cursor()

    # which tables, which snapshot ----------------------------------------------------------
    def _bindings(self, refs: set[tuple[str | None, str]], snapshot: int | None) -> list[tuple]:
        """(schema or None, name as written, loaded table, snapshot id or None) per reference to
        a Lakehouse table; other names (CTEs, typos) are left for DuckDB to resolve or report."""
        found, known = [], None
        for schema, name in sorted(refs, key=str):
            target = f"{schema or DEFAULT_NAMESPACE}.{name}"
            try:
                found.append((schema, name, self.tables.load_current(target)))
                continue
            except (NoSuchTableError, TableError):  # not a table (a CTE?) or not this spelling
                pass
            known = self.tables.list() if known is None else known  # SQL names ignore case
            match = next((k for k in known if k.lower() == target.lower()), None)
            if match:
                found.append((schema, name, self.tables.load(match)))
        if snapshot is None:
            return [(s, n, t, None) for s, n, t in found]
        owners = {id(t) for _, _, t in found if t.snapshot_by_id(snapshot) is not None}
        if not owners:
            named = ", ".join(sorted({".".join(t.name()) for _, _, t in found})) or "none"
            raise SqlError(f"no table in the query has snapshot {snapshot} (tables in the query: {named})")
        return [(s, n, t, snapshot if id(t) in owners else None) for s, n, t in found]

    def _source(self, tbl, snapshot_id: int | None) -> tuple[tuple, ScanSource]:
        snap = self.tables.snapshot(tbl, snapshot_id)
        # Iceberg reads the current table by its current schema (a rename, an added or dropped column
        # makes no snapshot) and only time travel by the schema the snapshot was written with.
        travel = snapshot_id is not None and snap is not None and snap.schema_id is not None
        schema_id = snap.schema_id if travel else tbl.metadata.current_schema_id
        key = (tbl.metadata.table_uuid, snap.snapshot_id if snap else None, schema_id)
        with self._lock:
            if key in self._sources:
                self._sources.move_to_end(key)
                return key, self._sources[key]
        try:
            schema = tbl.metadata.schema_by_id(schema_id) or tbl.schema()
            source = snapshot_source(tbl, snap, schema, self._local_root, time_travel=travel)
        except FileNotFoundError as exc:
            if snap is None:
                raise
            name = ".".join(tbl.name())
            raise SnapshotFilesMissing(name, snap.snapshot_id, snap.parent_snapshot_id, missing_path(exc)) from None
        with self._lock:
            self._sources[key] = source
            while len(self._sources) > self._cache_size:
                self._sources.popitem(last=False)
        return key, source

    def _shared_view(self, con: duckdb.DuckDBPyConnection, name: str, key: tuple, select: str) -> None:
        """Views of current snapshots live in the shared database and are rebuilt only when the
        snapshot changes: binding a view reads the Parquet footers (~2.5 ms a query)."""
        with self._lock:
            if self._shared_views.get(name.lower()) == key:
                return
        try:
            con.execute(f"CREATE OR REPLACE VIEW main.{quote(name)} AS {select}")
        except duckdb.TransactionException:  # another cursor replaced it at this moment
            con.execute(f"CREATE TEMP VIEW {quote(name)} AS {select}")
            return
        with self._lock:
            self._shared_views[name.lower()] = key

    def _forget_views(self, names: set[str]) -> None:
        """Drop shared views whose table is gone, so a dropped table never answers from a view."""
        with self._lock:
            stale = [n for n in names if n in self._shared_views]
            for n in stale:
                del self._shared_views[n]
        if stale and self._shared is not None:
            cursor = self._shared_cursor()
            try:
                for n in stale:
                    cursor.execute(f"DROP VIEW IF EXISTS main.{quote(n)}")
            finally:
                cursor.close()

    def _register(self, con: duckdb.DuckDBPyConnection, bindings: list[tuple], shared: bool = False) -> None:
        for binding in bindings:
            try:
                self._register_one(con, binding, shared)
            except duckdb.Error as exc:  # a table SQL cannot bind (columns that differ only in case)
                detail = str(exc).splitlines()[0]  # the rest quotes the view, warehouse paths and all
                raise SqlError(f"table '{'.'.join(binding[2].name())}' cannot be read by SQL: {detail}") from None

    def _register_one(self, con: duckdb.DuckDBPyConnection, binding: tuple, shared: bool) -> None:
        schema, name, tbl, snapshot_id = binding
        key, source = self._source(tbl, snapshot_id)
        select = source.select
        if shared and schema is None and snapshot_id is None and source.arrow is None:
            self._shared_view(con, name, key, select)
            return
        if source.arrow is not None:
            internal = f"__lakehouse__{'.'.join(tbl.name())}"
            con.register(internal, source.arrow)
            # only the FROM: a column may be named like the placeholder (its quoted name broke the view)
            assert select.endswith(f" FROM {PLACEHOLDER}")
            select = select.removesuffix(PLACEHOLDER) + quote(internal)
        if schema is None:
            con.execute(f"CREATE TEMP VIEW {quote(name)} AS {select}")
        else:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
            con.execute(f"CREATE VIEW {quote(schema)}.{quote(name)} AS {select}")

    # running -------------------------------------------------------------------------------
    def _run(self, con: duckdb.DuckDBPyConnection, sql: str, cap: int, timeout: float, byte_cap: int) -> SqlResult:
        return execute(con, sql, self.settings, cap=cap, timeout=timeout, byte_cap=byte_cap, hint=self._table_hint)

    def _table_hint(self, message: str) -> str:
        if "Table with name" not in message:
            return ""
        known = self.tables.list()
        missing = message.split("Table with name", 1)[1].split()[0]
        bare = [k.split(".", 1)[1] for k in known if k.startswith(f"{DEFAULT_NAMESPACE}.")]
        return f"\nLakehouse tables: {', '.join(known) or 'none'}{did_you_mean(missing, bare + known)}"

    def _lock_down(self, con: duckdb.DuckDBPyConnection) -> None:
        root = str(self._local_root) if self._local_root is not None else None
        lock_down(con, self.settings, allowed_directory=root)

    def close(self) -> None:
        with self._lock:
            self._sources.clear()
            self._shared_views.clear()
            if self._shared is not None:
                self._shared.close()
                self._shared = None


def execute(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    settings: Settings,
    *,
    cap: int,
    timeout: float,
    byte_cap: int,
    hint: Callable[[str], str] | None = None,
) -> SqlResult:
    """Run `sql` on a locked connection: interrupted past `timeout`, at most `cap` rows, refused
    past `byte_cap` bytes while fetching; DuckDB's errors as ours (`hint` adds to a catalog error)."""
    timer = threading.Timer(timeout, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        cursor = con.execute(sql)  # lazy: rows are computed as they are fetched
        columns = [d[0] for d in cursor.description]
        rows = _fetch(cursor, cap + 1, byte_cap)
    except duckdb.InterruptException:
        raise SqlTimeout(
            f"query stopped: it ran longer than the time limit of {timeout:g} s (sql_timeout_s, LH_SQL_TIMEOUT_S)"
        ) from None
    except duckdb.PermissionException as exc:
        raise SqlRejected(f"not allowed: {exc}") from None
    except duckdb.OutOfMemoryException as exc:
        limit = settings.sql_memory_limit
        raise SqlError(
            f"query stopped: it needs more memory than the limit sql_memory_limit "
            f"(LH_SQL_MEMORY_LIMIT={limit}), even spilling to disk ({str(exc).splitlines()[0]}); "
            "filter earlier, aggregate fewer groups or sort fewer rows"
        ) from None
    except duckdb.CatalogException as exc:
        text, extra = str(exc), hint(str(exc)) if hint else ""
        if extra:  # DuckDB's guess names its own views (pg_sequences), ours names the lakehouse's tables
            text = _DUCKDB_GUESS.sub("", text)
        raise SqlError(f"{text}{extra}") from None
    except duckdb.Error as exc:
        text = str(exc)
        if _STORE_FAILED.search(text):  # the table's files did not come: not the query's fault
            why = text.splitlines()[0]
            if any(gone in text for gone in _FILE_GONE):  # the store answered: no retry brings it back
                raise StorageError(f"a table's data file is missing from its store, it cannot be read: {why}") from None
            raise StorageError(f"a table's files could not be read, try again once the store answers: {why}") from None
        raise SqlError(text) from None
    finally:
        timer.cancel()
    return SqlResult(columns, rows[:cap], truncated=len(rows) > cap)


# what DuckDB says when the Arrow scan of a table fails in pyarrow's I/O (S3 down, a file gone)
_STORE_FAILED = re.compile(r"reading the stream registered as '[^']*' failed: IOError: ")
_DUCKDB_GUESS = re.compile(r'\nDid you mean "[^"\n]*"\?')
_FILE_GONE = ("Path does not exist", "No such file or directory", "NoSuchKey")
_BLOB_BYTE = [chr(b) if 32 <= b < 127 and b not in b"'\\" else f"\\x{b:02X}" for b in range(256)]


def _text_of_blobs(value: Any) -> Any:
    """A BLOB as DuckDB writes it as text (`'\\xAA\\x00'`; printable ASCII as is), also inside
    lists and structs: raw bytes have no JSON form, and those that are not UTF-8 failed every
    surface's answer with a UnicodeDecodeError."""
    kind = type(value)
    if kind is bytes:
        return "".join(_BLOB_BYTE[b] for b in value)
    if kind is list:
        return [_text_of_blobs(v) for v in value]
    if kind is tuple:
        return tuple(_text_of_blobs(v) for v in value)
    if kind is dict:
        return {_text_of_blobs(k): _text_of_blobs(v) for k, v in value.items()}  # a MAP's keys too
    return value


def _fetch(cursor: duckdb.DuckDBPyConnection, limit: int, byte_cap: int) -> list[list[Any]]:
    """Up to `limit` rows, in chunks sized to about `_CHUNK_BYTES` from the rows seen so far;
    `SqlResultTooLarge` as soon as they add up to more than `byte_cap`."""
    rows: list[list[Any]] = []
    total, size = 0, _FIRST_CHUNK_ROWS
    # the columns that may hold a BLOB, nested too (`STRUCT(k BLOB)`), from their types, once
    blobs = [i for i, column in enumerate(cursor.description or ()) if "BLOB" in str(column[1])]
    while len(rows) < limit:
        chunk = cursor.fetchmany(min(size, limit - len(rows)))
        if not chunk:
            break
        for raw in chunk:
            row = list(raw)
            for i in blobs:  # counted as answered: a BLOB's byte may be 4 characters of text
                row[i] = _text_of_blobs(row[i])
            total += _row_size(row)
            if total > byte_cap:
                raise SqlResultTooLarge(
                    f"result too large: its first {len(rows) + 1} rows are already more than {_mib(byte_cap)}, "
                    f"the limit sql_result_max_bytes (LH_SQL_RESULT_MAX_BYTES={byte_cap}); add a LIMIT, "
                    "select fewer or narrower columns, or aggregate in SQL"
                )
            rows.append(row)
        size = max(1, min(4096, _CHUNK_BYTES * len(rows) // max(total, 1)))
    return rows


def query_arrow(table: Any, name: str, sql: str, settings: Settings) -> SqlResult:
    """One read-only query over an Arrow `table` registered as `name` (the ops log's `ops sql`), with
    the same guard, lock-down and limits as the tables' SQL; every row (no row cap)."""
    check_read_only(sql)
    con = open_database()
    try:
        con.register(name, table)
        lock_down(con, settings)
        cap, timeout, byte_cap = sys.maxsize - 1, settings.sql_timeout_s, settings.sql_result_max_bytes
        return execute(con, sql, settings, cap=cap, timeout=timeout, byte_cap=byte_cap)
    finally:
        con.close()
