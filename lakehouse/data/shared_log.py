"""Shared state: a local JSON-lines log flushed, in batches, into an append-only Iceberg table.

Ops, playbooks, pathway events and evidence are written by every process to its own JSONL log under
LH_HOME (`lakehouse.common.jsonl` rules): that log is the write-ahead log. `SharedLog.flush()` appends
the rows written since the last flush to the table `lakehouse._lh_<name>` of the lakehouse catalog,
so processes with different LH_HOMEs (machines) sharing one catalog and warehouse see each other's
rows. `rows()` is every flushed row (all processes) plus this process's unflushed tail, each id once.

- Idempotent: each row has an id (the record's id field, else a hash of its JSON); a commit plans
  its rows against the table as it is and leaves out every id already there. The cursor file beside
  the log (`<log>.flushed`) is replaced atomically only AFTER the commit, so a crash in between
  re-flushes rows that are then found in the table and skipped: nothing twice, nothing lost.
- Concurrent flushes from several processes: a commit that loses the race is planned again on the
  new snapshot (ids re-checked) and retried with backoff (`Tables.write_planned`); flushes of one
  log on one machine are serialised by an advisory lock on `<log>.flush.lock`.
- Readers do not rescan the table: ids and rows of data files already read are kept, and a read
  first compares the table's metadata location (one indexed catalog SELECT); only data files a new
  snapshot added are read.
- Off unless `shared_state` says so (`auto`: on when `catalog_url` names a shared catalog).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.common.jsonl import AppendLog
from lakehouse.config import Settings
from lakehouse.data.errors import SharedLogError
from lakehouse.data.log_cursor import LogCursor, Tail
from lakehouse.data.snapshot_expiry import expire_old_snapshots
from lakehouse.data.table_names import SHARED_TABLE_PREFIX
from lakehouse.errors import ErrorKind, LakehouseError

if TYPE_CHECKING:  # pyarrow and pyiceberg load on the first flush or read, not with every owner
    import pyarrow as pa

    from lakehouse.data.tables import Tables, Write

log = logging.getLogger(__name__)

TABLE_PREFIX = SHARED_TABLE_PREFIX  # `lakehouse._lh_ops`, ...: lakehouse-owned tables (`tables list` shows the prefix)
NAMESPACE = "lakehouse"
# Test hook (fault injection): seconds to sleep after a batch is committed and before the cursor
# file is written, so a test can SIGKILL a flush in that window. Unset in normal use.
PAUSE_AFTER_COMMIT_ENV = "LH_TEST_SHARED_PAUSE_AFTER_COMMIT"


@dataclass(frozen=True)
class Kind:
    """One shared log: where its file is, which field is a record's id and time, and the record
    fields copied into their own columns for readers that filter on them."""

    name: str
    path: Callable[[Settings], Path]
    id_field: str | None  # None: the id is a hash of the record
    ts_field: str | None
    promoted: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("ops", lambda s: s.ops_log, "op_id", "ts_start", ("run_id", "workflow", "mode", "source", "status")),
        Kind("playbooks", lambda s: s.playbook_log, "id", "ts", ("corpus",)),
        # An event's `id` is its trace's: several events share it, so an event's row id is its hash.
        Kind("pathway", lambda s: s.pathway_log, None, "ts", ("op",)),
        Kind("evidence", lambda s: s.home_dir / s.drift_evidence, "id", None, ("source_run",)),
    )
}
BASE_COLUMNS = ("id", "ts", "origin", "seq", "record")


def table_name(name: str) -> str:
    return f"{NAMESPACE}.{TABLE_PREFIX}{name}"


def is_shared_table(qualified_name: str) -> bool:
    """Whether a table is one of these (listings may hide or label them)."""
    return qualified_name.split(".")[-1].startswith(TABLE_PREFIX)


def row_id(kind: Kind, record: dict[str, Any]) -> str:
    value = record.get(kind.id_field) if kind.id_field else None
    if value is not None and value != "":
        return str(value)
    canonical = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return "h-" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _schema(kind: Kind) -> pa.Schema:
    import pyarrow as pa

    fields = [
        pa.field("id", pa.string()),
        pa.field("ts", pa.string()),
        pa.field("origin", pa.string()),
        pa.field("seq", pa.int64()),
        pa.field("record", pa.string()),
    ]
    return pa.schema(fields + [pa.field(c, pa.string()) for c in kind.promoted])


@dataclass
class FlushReport:
    name: str
    table: str
    read: int = 0  # rows in the log since the last flush
    appended: int = 0  # rows this flush added to the table
    already: int = 0  # rows another flush had already added (a crash before the cursor write)
    batches: int = 0
    attempts: int = 0  # commit attempts (more than batches: lost races, retried)
    seconds: float = 0.0
    skipped: str | None = None  # why nothing was flushed (shared state off)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SharedRow:
    id: str
    ts: str
    origin: str
    seq: int
    record: dict[str, Any]

    @property
    def order(self) -> tuple[str, str, int]:
        return (self.ts, self.origin, self.seq)


@dataclass
class _Mirror:
    """What was read of the table: per data file read, its rows (or ids only). `generation`
    changes when the table was replaced or rewritten and everything was read again."""

    columns: tuple[str, ...]
    table_uuid: str | None = None
    location: str | None = None
    manifests: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    rows: list[SharedRow] = field(default_factory=list)
    generation: int = 0


class SharedLog:
    """`SharedLog(settings, "ops")`: the ops log of this LH_HOME and its table `lakehouse._lh_ops`."""

    def __init__(
        self, settings: Settings, name: str, *, path: Path | None = None, tables: Tables | None = None
    ) -> None:
        if name not in KINDS:
            raise SharedLogError(f"unknown shared log {name!r}: use one of {', '.join(KINDS)}")
        self.settings = settings
        self.kind = KINDS[name]
        self.name = name
        self.table = table_name(name)
        self.log = AppendLog(path or self.kind.path(settings))
        self.cursor = LogCursor(self.log.path)
        self.origin = f"{socket.gethostname()}:{self.log.path.resolve()}"
        self._tables = tables
        self._lock = threading.RLock()
        self._id_mirror = _Mirror(("id",))
        self._row_mirror = _Mirror(BASE_COLUMNS)
        self._checked = -math.inf  # when `remote()` last asked the catalog (monotonic seconds)
        self._synced = False  # whether `remote()` has read the table once

    @classmethod
    def maybe(
        cls, settings: Settings, name: str, path: Path | None = None, tables: Callable[[], Tables] | None = None
    ) -> SharedLog | None:
        """The shared log when shared state is on, else None (the owner keeps its local log only).
        `tables` gives the owner's table handle, asked for only when shared state is on."""
        if not settings.shared_state_enabled:
            return None
        return cls(settings, name, path=path, tables=tables() if tables is not None else None)

    @property
    def tables(self) -> Tables:
        if self._tables is None:
            from lakehouse.data.tables import Tables

            self._tables = Tables(self.settings)
        return self._tables

    def _tail(self) -> tuple[list[tuple[int, dict[str, Any]]], Tail]:
        """(offset, record) of each complete line after the flushed cursor, and the cursor after
        them; a replaced or cut log is read from the start (`lakehouse.data.log_cursor`)."""
        tail = self.cursor.tail()
        out = []
        for pos, raw in tail.lines:
            record = _parse(raw)
            if record is not None:
                out.append((pos, record))
            elif raw.strip():
                # The owner's reader reports it (with its line number); it is never flushed.
                log.warning("%s: corrupt line at byte %d not flushed", self.log.path, pos)
        return out, tail

    def unflushed(self) -> list[SharedRow]:
        rows, _ = self._tail()
        return [self._row(offset, record) for offset, record in rows]

    # flushing ----------------------------------------------------------------------------
    def _row(self, offset: int, record: dict[str, Any]) -> SharedRow:
        ts = record.get(self.kind.ts_field) if self.kind.ts_field else None
        return SharedRow(row_id(self.kind, record), str(ts or ""), self.origin, offset, record)

    def _arrow(self, rows: list[SharedRow]) -> pa.Table:
        import pyarrow as pa

        promoted = self.kind.promoted
        columns: dict[str, list[Any]] = {
            "id": [r.id for r in rows],
            "ts": [r.ts for r in rows],
            "origin": [r.origin for r in rows],
            "seq": [r.seq for r in rows],
            "record": [json.dumps(r.record, default=str, ensure_ascii=False, separators=(",", ":")) for r in rows],
        }
        for name in promoted:
            columns[name] = [None if r.record.get(name) is None else str(r.record.get(name)) for r in rows]
        return pa.Table.from_pydict(columns, schema=_schema(self.kind))

    @contextmanager
    def _flush_lock(self) -> Iterator[None]:
        lock_path = self.log.path.with_name(self.log.path.name + ".flush.lock")
        with self._lock:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def flush(self, force: bool = False) -> FlushReport:
        """Append the rows logged since the last flush to the table; see the module docstring.
        `force` flushes even when shared state is off (an explicit `lakehouse flush --force`)."""
        report = FlushReport(self.name, self.table)
        if not (force or self.settings.shared_state_enabled):
            report.skipped = "shared state is off (LH_SHARED_STATE)"
            return report
        started = time.perf_counter()
        batch_rows = max(1, int(self.settings.shared_state_batch_rows))
        with self._flush_lock():
            pending, tail = self._tail()
            report.read = len(pending)
            for first in range(0, len(pending), batch_rows):
                batch = pending[first : first + batch_rows]
                self._commit([self._row(o, r) for o, r in batch], report)
                report.batches += 1
            if tail.ident is not None and (pending or tail.moved):
                time.sleep(float(os.environ.get(PAUSE_AFTER_COMMIT_ENV) or 0))
                self.cursor.write(tail)
        report.seconds = round(time.perf_counter() - started, 4)
        self._checked = -math.inf  # this process's readers see its own flush at once
        if report.appended:
            log.info("flushed %d row(s) of %s to %s", report.appended, self.log.path, self.table)
        return report

    def _commit(self, rows: list[SharedRow], report: FlushReport) -> None:
        from lakehouse.data.tables import Write

        unique: dict[str, SharedRow] = {}
        for row in rows:
            unique.setdefault(row.id, row)  # a line logged twice (a retried write): first wins
        outcome: dict[str, int] = {}

        def plan(tbl) -> Write | None:
            known = self._sync(self._id_mirror, tbl) if tbl is not None else set()
            fresh = [r for r in unique.values() if r.id not in known]
            outcome["already"] = len(unique) - len(fresh)
            outcome["fresh"] = len(fresh)
            if not fresh:
                return None
            return Write(self._arrow(fresh), properties={"lakehouse.shared-log.origin": self.origin})

        done = self.tables.write_planned(self.table, plan)
        report.attempts += done.attempts
        report.already += outcome.get("already", 0)
        if not done.skipped:
            report.appended += outcome.get("fresh", 0)
            if done.table is not None:
                self._sync(self._id_mirror, done.table)
                # every flush is a snapshot; the rows stay: each snapshot of an append-only table has them all
                expire_old_snapshots(done.table, self.settings.shared_state_snapshots_kept)

    # reading the table ---------------------------------------------------------------------
    def _sync(self, mirror: _Mirror, tbl) -> set[str]:
        """Bring `mirror` up to the table `tbl` (reading only data files it has not read); its ids."""
        with self._lock:
            if mirror.location == tbl.metadata_location:
                return mirror.ids
            snapshot = tbl.current_snapshot()
            manifests = snapshot.manifests(tbl.io) if snapshot is not None else []
            paths = {m.manifest_path for m in manifests}
            if mirror.table_uuid != str(tbl.metadata.table_uuid) or not mirror.manifests <= paths:
                # Another table under the name, or manifests rewritten: read it all again.
                mirror.table_uuid, mirror.manifests, mirror.files = str(tbl.metadata.table_uuid), set(), set()
                mirror.ids, mirror.rows = set(), []
                mirror.generation += 1
            for manifest in manifests:
                if manifest.manifest_path in mirror.manifests:
                    continue
                for entry in manifest.fetch_manifest_entry(tbl.io, discard_deleted=True):
                    path = entry.data_file.file_path
                    if path not in mirror.files:
                        self._read_file(mirror, tbl.io, path)
                        mirror.files.add(path)
                mirror.manifests.add(manifest.manifest_path)
            mirror.location = tbl.metadata_location
            return mirror.ids

    def _read_file(self, mirror: _Mirror, io, path: str) -> None:
        import pyarrow.parquet as pq

        with io.new_input(path).open(seekable=True) as fh:
            data = pq.read_table(fh, columns=list(mirror.columns)).to_pydict()
        ids = data["id"]
        if mirror.columns == ("id",):
            mirror.ids.update(ids)
            return
        for i, rid in enumerate(ids):
            if rid in mirror.ids:
                continue  # two files hold one id only if a writer bypassed the check: first wins
            mirror.ids.add(rid)
            try:
                record = json.loads(data["record"][i])
            except (TypeError, ValueError):
                log.warning("%s: row %s has an unreadable record; skipped", self.table, rid)
                continue
            mirror.rows.append(SharedRow(rid, data["ts"][i] or "", data["origin"][i] or "", data["seq"][i], record))

    def _current_table(self):
        from pyiceberg.exceptions import NoSuchTableError

        try:
            return self.tables.load_current(self.table)
        except NoSuchTableError:
            return None

    def remote(self) -> tuple[int, list[SharedRow]]:
        """(generation, every row in the table), cached: one catalog SELECT when nothing changed.
        The list only grows while `generation` stays the same, so a reader can keep how many rows
        it has used and take the new ones next time."""
        with self._lock:
            if time.monotonic() - self._checked < self.settings.shared_state_refresh_s:
                return self._row_mirror.generation, self._row_mirror.rows
        try:
            tbl = self._current_table()
        except LakehouseError as exc:
            if exc.kind is not ErrorKind.UNAVAILABLE or not self._synced:  # the catalog's or the store's
                raise
            # a catalog blip: the rows read before serve the reader (a search) until it is back
            log.warning("%s: answering from the rows read before (%s)", self.table, exc)
            with self._lock:
                self._checked = time.monotonic()
                return self._row_mirror.generation, self._row_mirror.rows
        with self._lock:
            self._synced = True
            self._checked = time.monotonic()
            if tbl is None:
                if self._row_mirror.table_uuid is not None or self._row_mirror.rows:
                    self._row_mirror = _Mirror(BASE_COLUMNS, generation=self._row_mirror.generation + 1)
                return self._row_mirror.generation, self._row_mirror.rows
            self._sync(self._row_mirror, tbl)
            return self._row_mirror.generation, self._row_mirror.rows

    def rows(self) -> list[SharedRow]:
        """Every flushed row of every process, and this process's unflushed rows, each id once,
        ordered by (ts, origin, position in its log)."""
        _, remote = self.remote()
        seen = {r.id for r in remote}
        merged = list(remote)
        for row in self.unflushed():
            if row.id not in seen:
                seen.add(row.id)
                merged.append(row)
        merged.sort(key=lambda r: r.order)
        return merged

    def records(self) -> list[dict[str, Any]]:
        return [r.record for r in self.rows()]


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def flush_all(
    settings: Settings, force: bool = False, names: list[str] | None = None, quiet: bool = False
) -> list[FlushReport]:
    """Flush every shared log of this LH_HOME (run end, timer, `lakehouse flush`). One log failing
    does not stop the others; the first error is raised after all were tried (each is logged unless
    `quiet`)."""
    if not (force or settings.shared_state_enabled):
        return [FlushReport(n, table_name(n), skipped="shared state is off (LH_SHARED_STATE)") for n in names or KINDS]
    from lakehouse.data.tables import Tables

    tables = Tables(settings)
    reports, error = [], None
    try:
        for name in names or list(KINDS):
            try:
                reports.append(SharedLog(settings, name, tables=tables).flush(force=force))
            except Exception as exc:  # noqa: BLE001 - try the other logs first
                log.log(logging.DEBUG if quiet else logging.ERROR, "could not flush shared log %s: %s", name, exc)
                error = error or exc
                if isinstance(exc, OSError) or getattr(exc, "kind", None) is ErrorKind.UNAVAILABLE:
                    break  # the catalog or the store is down: each other log would wait for it again
    finally:
        tables.close()
    if error is not None:
        raise error
    return reports


def flush_quietly(settings: Settings) -> list[FlushReport] | None:
    """`flush_all` for the end of a workflow run: a no-op when shared state is off, and a failure
    is logged, never raised (the rows stay in the local log for the next flush)."""
    if not settings.shared_state_enabled:
        return None
    try:
        return flush_all(settings, quiet=True)
    except Exception as exc:  # noqa: BLE001 - a run that succeeded must not fail on its bookkeeping
        # one line: this runs after every CLI command, and its traceback buried the command's own error
        log.warning(
            "shared-state flush failed (%s: %s); the rows stay in the local logs and the next flush retries",
            type(exc).__name__,
            " ".join(str(exc).split()),
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        return None


class FlushTimer:
    """Flushes every shared log every `interval_s` seconds in a daemon thread (long-running
    processes: the API server); `stop()` ends it with a last flush."""

    def __init__(self, settings: Settings, interval_s: float | None = None) -> None:
        self.settings = settings
        self.interval_s = interval_s if interval_s is not None else settings.shared_state_flush_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushes = 0

    def start(self) -> FlushTimer:
        if self.settings.shared_state_enabled and self.interval_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lakehouse-flush", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._flush()

    def _flush(self) -> None:
        if flush_quietly(self.settings) is not None:
            self.flushes += 1

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._flush()
