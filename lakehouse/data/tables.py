"""Iceberg tables through a pyiceberg SQL catalog (SQLite under LH_HOME, or any SQLAlchemy URL such
as PostgreSQL), with data and metadata in the warehouse (`file://` or `s3://`).

Names are `name` or `namespace.name`; a bare name lives in the namespace `lakehouse`. Every write
is one Iceberg transaction producing exactly one new snapshot, so a failed write leaves the table
at the snapshot it had. Commits are optimistic: a write that loses a race with another writer (any
process) is planned again on the new snapshot and retried a bounded number of times, else it fails
with TableConflict and writes nothing. A new table appears in the catalog only with its first rows.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
    ValidationException,
)
from pyiceberg.exceptions import ValidationError as IcebergValidationError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.table import Table, TableProperties, Transaction
from sqlalchemy.exc import OperationalError

from lakehouse.common.progress import Progress
from lakehouse.common.suggest import close_matches
from lakehouse.config import Settings
from lakehouse.data import failed_writes
from lakehouse.data.catalog_open import ensure_warehouse_bucket, open_catalog
from lakehouse.data.delete_files import refuse_equality_deletes
from lakehouse.data.errors import (
    CatalogBusy,
    CatalogUnavailable,
    SchemaConflict,
    StorageWriteFailed,
    TableConflict,
    TableError,
    TableNotFound,
    table_unreadable,
)
from lakehouse.data.table_names import CORPUS_TABLE_PREFIX, DEFAULT_NAMESPACE, qualified, refuse_case_twin, split_name
from lakehouse.data.table_schema import fit_to_table, plain_arrow_schema, to_storable
from lakehouse.data.write_markers import writing
from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    from pathlib import Path

    from lakehouse.data.storage import ObjectStore
    from lakehouse.data.table_gc import GcReport


__all__ = ["Tables", "TableError", "TableNotFound", "TableConflict", "SchemaConflict", "Write", "Committed"]
__all__ += ["DEFAULT_NAMESPACE", "split_name", "qualified"]
log = logging.getLogger(__name__)
Files = list[Any]  # pyiceberg DataFiles (`list` is a method's name inside Tables)

# Test hook: seconds to sleep after a write's data files are written and before its catalog commit
# (the crash-safety tests SIGKILL a writer there). Unset in normal use.
PAUSE_BEFORE_COMMIT_ENV = "LAKEHOUSE_TEST_PAUSE_BEFORE_COMMIT"


def _backoff_s(attempt: int) -> float:
    """Seconds before attempt `attempt + 1` of a write that lost a race: exponential from 50 ms,
    capped at 2 s, jittered so two racing writers do not collide again."""
    return min(0.05 * 2 ** (attempt - 1), 2.0) * random.uniform(0.5, 1.5)


@dataclass
class Write:
    """One write, planned against one state of a table: `data` (Iceberg-storable Arrow) is added;
    with `replace` it replaces every current row, in the same snapshot."""

    data: pa.Table
    replace: bool = False
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class Committed:
    """What `Tables.write_planned` did: the new snapshot (None when the plan skipped writing), the
    table after it, whether this write created the table, and how many attempts it took."""

    snapshot_id: int | None
    table: Table | None
    created: bool = False
    attempts: int = 1
    skipped: bool = False


# A commit that lost a race: the catalog row moved on (CommitFailedException), the table was created
# by someone else (TableAlreadyExistsError), pyiceberg's own conflict validation, or SQLite's
# "database is locked" (OperationalError, the outcome of which _commit_write checks).
_RETRYABLE = (CommitFailedException, TableAlreadyExistsError, ValidationException, OperationalError)
_DEFINITELY_NOT_COMMITTED = (CommitFailedException, TableAlreadyExistsError, ValidationException, CatalogBusy)


def _test_pause_before_commit() -> None:
    pause = os.environ.get(PAUSE_BEFORE_COMMIT_ENV)
    if pause:
        time.sleep(float(pause))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


class Tables:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._catalog = None
        self._catalog_lock = threading.RLock()
        self._current: dict[tuple[str, str], Table] = {}  # parsed tables by identifier, see load_current
        self._warehouse_ready = False  # its bucket checked before this process's first write

    # catalog -----------------------------------------------------------------------------
    @property
    def catalog(self):
        # Workflow nodes run in threads: two first uses at once must not both create the catalog's
        # own tables ("table iceberg_tables already exists" on a fresh LH_HOME).
        with self._catalog_lock:
            if self._catalog is None:
                self._catalog = self._open_catalog()
            return self._catalog

    def _open_catalog(self):
        self.settings.home_dir.mkdir(parents=True, exist_ok=True)
        return open_catalog(DEFAULT_NAMESPACE, self.settings)

    def load_current(self, name: str) -> Table:
        """The table at its current metadata, like `catalog.load_table`, but the parsed metadata is
        reused while the catalog still points at the same metadata file: one indexed SELECT per
        call instead of an ORM load and a JSON parse (~3 ms of every SQL query)."""
        namespace, table = split_name(name)
        location = self._metadata_location(namespace, table)
        if location is None:
            raise NoSuchTableError(f"Table does not exist: {namespace}.{table}")
        with self._catalog_lock:
            cached = self._current.get((namespace, table))
        if cached is not None and cached.metadata_location == location:
            return cached
        loaded = self._load_table((namespace, table))
        with self._catalog_lock:
            self._current[(namespace, table)] = loaded
        return loaded

    def load(self, name: str) -> Table:
        ident = split_name(name)
        try:
            return self._load_table(ident)
        except NoSuchTableError:
            raise TableNotFound(name, self._close_matches(name), self._known(20)) from None

    def _load_table(self, ident: tuple[str, str]) -> Table:
        """`catalog.load_table`; a metadata file removed or damaged is TableUnreadable (this table only)."""
        try:
            return self.catalog.load_table(ident)
        except (NoSuchTableError, LakehouseError):
            raise  # not there, or a setting of ours that already says what is wrong
        except (OSError, ValueError, IcebergValidationError) as exc:  # the last: metadata that does not parse
            raise table_unreadable(".".join(ident), exc, self._metadata_location(*ident)) from exc

    def _metadata_location(self, namespace: str, table: str) -> str | None:
        """The metadata file the catalog points the table at (one indexed SELECT); None: no such table."""
        from sqlalchemy import text

        with self.catalog.engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = :c "
                    "AND table_namespace = :n AND table_name = :t"
                ),
                {"c": self.catalog.name, "n": namespace, "t": table},
            ).scalar()

    def _known(self, limit: int) -> list[str]:
        """Up to `limit` table names for a not-found message (then `…`)."""
        known = self.list()
        return known[:limit] + (["…"] if len(known) > limit else [])

    def _close_matches(self, name: str) -> list[str]:
        known = self.list()
        if not name.rsplit(".", 1)[-1].lower().startswith(CORPUS_TABLE_PREFIX):
            # a corpus's own rows are no near miss for a source table: `corpus add` of a corpus
            # whose table `schem` was dropped suggested `lakehouse.corpus_schemc`, the corpus itself
            known = [n for n in known if not n.rsplit(".", 1)[-1].startswith(CORPUS_TABLE_PREFIX)]
        bare = {n.split(".", 1)[1]: n for n in known if n.startswith(f"{DEFAULT_NAMESPACE}.")}
        hits = close_matches(name, known + list(bare))
        return list(dict.fromkeys(bare.get(h, h) for h in hits))

    # reading -----------------------------------------------------------------------------
    def list(self) -> list[str]:
        """Qualified names (`namespace.name`) of every table, sorted."""
        names = []
        for ns in self.catalog.list_namespaces():
            names += [".".join(ident) for ident in self.catalog.list_tables(ns)]
        return sorted(names)

    def exists(self, name: str) -> bool:
        return self.catalog.table_exists(split_name(name))

    def current_snapshot_id(self, name: str) -> int | None:
        snap = self.load(name).current_snapshot()
        return snap.snapshot_id if snap else None

    def describe(self, name: str) -> dict[str, Any]:
        tbl = self.load(name)
        current = tbl.current_snapshot()
        snapshots = [
            {
                "snapshot_id": s.snapshot_id,
                "parent_id": s.parent_snapshot_id,
                "timestamp_ms": s.timestamp_ms,
                "timestamp": _iso(s.timestamp_ms),
                "operation": s.summary.operation.value if s.summary else None,
                "summary": dict(s.summary.additional_properties) if s.summary else {},
            }
            for s in tbl.snapshots()
        ]
        return {
            "name": qualified(name),
            "location": tbl.location(),
            "metadata_location": tbl.metadata_location,
            "format_version": tbl.format_version,
            "current_snapshot_id": current.snapshot_id if current else None,
            "rows": self.row_count(current),
            "schema": [
                {"id": f.field_id, "name": f.name, "type": str(f.field_type), "required": f.required}
                for f in tbl.schema().fields
            ],
            "snapshots": snapshots,
        }

    @staticmethod
    def row_count(snapshot) -> int:
        if snapshot is None or snapshot.summary is None:
            return 0
        return int(snapshot.summary.get("total-records", 0))

    def snapshot(self, tbl: Table, snapshot_id: int | None):
        """The snapshot to read (current when `snapshot_id` is None); refuses unknown ids."""
        if snapshot_id is None:
            return tbl.current_snapshot()
        snap = tbl.snapshot_by_id(snapshot_id)
        if snap is None:
            known = ", ".join(str(s.snapshot_id) for s in tbl.snapshots()) or "none"
            raise TableError(f"table {'.'.join(tbl.name())!r} has no snapshot {snapshot_id} (its snapshots: {known})")
        return snap

    def read_arrow(
        self,
        name: str,
        columns: Iterable[str] | None = None,
        snapshot_id: int | None = None,
        row_filter: str | BooleanExpression | None = None,
    ) -> pa.Table:
        tbl = self.load(name)
        snap = self.snapshot(tbl, snapshot_id)
        columns = list(columns or [])
        unknown = [c for c in columns if c not in tbl.schema().column_names]
        if unknown:
            raise TableError(f"table {qualified(name)!r} has no column(s) {unknown}")
        refuse_equality_deletes(qualified(name), snap)  # pyiceberg's scan fails on them with a bare ValueError
        if snap is None:
            empty = plain_arrow_schema(tbl.schema()).empty_table()
            return empty.select(columns) if columns else empty
        selected = tuple(columns) if columns else ("*",)
        scan = tbl.scan(
            row_filter=row_filter if row_filter is not None else AlwaysTrue(),
            selected_fields=selected,
            snapshot_id=snapshot_id,  # None: the current snapshot by the current schema, not the snapshot's
        )
        return scan.to_arrow()

    # writing -----------------------------------------------------------------------------
    def write_arrow(
        self,
        name: str,
        table: pa.Table,
        mode: Literal["append", "overwrite"] = "append",
        properties: dict[str, str] | None = None,
    ) -> int:
        """Append or replace the rows of `name` (created from the data's schema if absent) in one
        new snapshot; returns its id. New columns are added to the schema in the same commit."""
        if mode not in ("append", "overwrite"):
            raise TableError(f"write mode must be 'append' or 'overwrite', got {mode!r}")
        data = to_storable(table, f"table {qualified(name)!r}")
        props = {k: str(v) for k, v in (properties or {}).items()}
        done = self.write_planned(name, lambda tbl: Write(data, replace=mode == "overwrite", properties=props))
        assert done.snapshot_id is not None  # the plan always writes: only a skipped write has no snapshot
        return done.snapshot_id

    def write_planned(self, name: str, plan: Callable[[Table | None], Write | None]) -> Committed:
        """Commit the write `plan` makes from the table as it is now, optimistically.

        `plan(table)` gets the table at its current metadata (None when it does not exist yet) and
        returns the rows to add (and whether they replace every current row), or None when there
        is nothing to write. If another writer commits first, the table is reloaded and `plan`
        runs again on it: an upsert re-reads the rows it merges, an idempotency check sees the
        other writer's snapshot. After `settings.table_commit_attempts` lost races this raises
        TableConflict; nothing of this write is in the table then. Creating a table and writing
        its first rows is one catalog commit: a crash in between leaves no (empty) table."""
        ident = split_name(name)
        if not self._warehouse_ready:
            ensure_warehouse_bucket(self.settings)
            self._warehouse_ready = True
        attempts = max(1, int(getattr(self.settings, "table_commit_attempts", 8)))
        last: BaseException | None = None
        for attempt in range(1, attempts + 1):
            try:
                tbl = self._load_for_write(ident)
                write = plan(tbl)
                if write is None:
                    return Committed(None, tbl, created=False, attempts=attempt, skipped=True)
                snapshot_id, committed = self._commit_write(ident, tbl, write)
                return Committed(snapshot_id, committed, created=tbl is None, attempts=attempt)
            except _RETRYABLE as exc:
                failed_writes.refuse_when_catalog_refused(exc, self.settings.catalog)  # a full disk is no lost race
                last = exc
                log.info("commit to %s lost a race (attempt %d of %d): %s", qualified(name), attempt, attempts, exc)
                if attempt < attempts:
                    time.sleep(_backoff_s(attempt))
        raise TableConflict(qualified(name), attempts, last)

    def _load_for_write(self, ident: tuple[str, str]) -> Table | None:
        try:
            tbl = self._load_table(ident)
        except NoSuchTableError:
            refuse_case_twin(ident, self.list())  # a new table: its name must be new to SQL too
            return None
        failed_writes.refuse_table_in_another_home(tbl, self.settings)
        # pyiceberg retries a conflicting commit itself by rebasing the same files on the new
        # snapshot: right for a blind append, wrong for an upsert (its merge read the old rows)
        # or an idempotent ingest (the other writer may have ingested the same content). Turn
        # that off for this in-memory copy (never written back: a commit sends only its updates)
        # and retry in write_planned, which plans the write again. Appends merge the table's small
        # manifests once there are 100 (Iceberg's default count): one manifest an append made every
        # scan and every commit read them all (300 one-row appends: 300 manifests).
        tweaks = {TableProperties.COMMIT_NUM_RETRIES: "0", TableProperties.MANIFEST_MERGE_ENABLED: "true"}
        tbl.metadata = tbl.metadata.model_copy(update={"properties": {**tbl.metadata.properties, **tweaks}})
        return tbl

    def _ensure_namespace(self, namespace: str) -> None:
        from sqlalchemy.exc import IntegrityError

        with self._catalog_lock:
            try:
                self.catalog.create_namespace_if_not_exists(namespace)
            except (IntegrityError, NamespaceAlreadyExistsError):  # created by another process just now
                pass

    def _commit_write(self, ident: tuple[str, str], tbl: Table | None, write: Write) -> tuple[int, Table]:
        """One attempt: write the data files, then commit one snapshot (with the table's creation
        when `tbl` is None). A definitely failed commit deletes the files it wrote."""
        from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible

        where = f"table {'.'.join(ident)!r}"
        props = {k: str(v) for k, v in write.properties.items()}
        if tbl is None:
            self._ensure_namespace(ident[0])
            # Smaller data files than Iceberg's 512 MiB default: pyiceberg writes them in parallel
            # and DuckDB reads them in parallel (measured in bench/ingest_query.py on 2 cores).
            table_props = {"write.target-file-size-bytes": str(self.settings.table_target_file_bytes)}
            data = write.data
            tx: Transaction = self.catalog.create_table_transaction(ident, schema=data.schema, properties=table_props)
            io, old_files = tx._table.io, []
        else:
            fitted = fit_to_table(write.data, tbl.schema(), where)
            data = fitted.data
            tx = tbl.transaction()
            if fitted.new_columns:
                with tx.update_schema() as update:
                    update.union_by_name(data.schema)
            current = tbl.current_snapshot()
            old_files = (
                [task.file for task in tbl.scan(snapshot_id=current.snapshot_id).plan_files()]
                if write.replace and current is not None
                else []
            )
            io = tbl.io
        _check_pyarrow_schema_compatible(
            tx.table_metadata.schema(), provided_schema=data.schema, format_version=tx.table_metadata.format_version
        )
        snapshot = tx.update_snapshot(snapshot_properties=props)
        # A replace is ONE overwrite snapshot (pyiceberg's `overwrite` commits a DELETE and then an
        # APPEND snapshot, so time travel would see an empty table in between).
        producer = snapshot.overwrite() if old_files else snapshot.merge_append()
        written: Files = []  # the data files once all are written: a failure removes them
        try:
            with writing(io, tx.table_metadata.location):  # gc leaves the files of a write in flight alone
                return self._write_and_commit(ident, tx, io, producer, data, old_files, written)
        except OSError as exc:
            if not StorageWriteFailed.names(exc):
                raise
            # refused before the catalog was asked: a data, manifest or metadata file, or the marker
            location = tx.table_metadata.location
            torn = failed_writes.torn_data_files(io, location, producer.commit_uuid)
            failed_writes.delete_quietly(io, [f.file_path for f in written] + torn, producer)
            raise StorageWriteFailed(f"table {'.'.join(ident)!r}", failed_writes.place_of(location), exc) from None

    def _write_and_commit(
        self, ident: tuple[str, str], tx: Transaction, io, producer, data: pa.Table, old_files: Files, written: Files
    ) -> tuple[int, Table]:
        from pyiceberg.io.pyarrow import _dataframe_to_data_files

        where = f"table {'.'.join(ident)!r}"
        try:
            if len(data):
                written += _dataframe_to_data_files(
                    table_metadata=tx.table_metadata, write_uuid=producer.commit_uuid, df=data, io=io
                )
            with producer:
                for data_file in old_files:
                    producer.delete_data_file(data_file)
                for data_file in written:
                    producer.append_data_file(data_file)
            _test_pause_before_commit()
            committed = tx.commit_transaction()
        except _DEFINITELY_NOT_COMMITTED:
            failed_writes.delete_quietly(io, [f.file_path for f in written], producer)
            raise
        except CatalogUnavailable as exc:  # the database went: the commit may have landed, keep the files
            see = f"look at its snapshots (`lakehouse table {'.'.join(ident)}`) before writing it again"
            raise CatalogUnavailable(f"{exc}; whether this write to {where} landed is not known: {see}") from None
        except _RETRYABLE:
            # Outcome unknown (e.g. the catalog database was locked at its COMMIT): look.
            if self._landed(ident, producer.snapshot_id):
                return producer.snapshot_id, self.catalog.load_table(ident)
            failed_writes.delete_quietly(io, [f.file_path for f in written], producer)
            raise
        return producer.snapshot_id, committed

    def _landed(self, ident: tuple[str, str], snapshot_id: int) -> bool:
        try:
            return self.catalog.load_table(ident).metadata.snapshot_by_id(snapshot_id) is not None
        except Exception:  # noqa: BLE001 - cannot tell: treat as not landed, the retry re-checks
            return False

    def drop(self, name: str) -> None:
        """Drop the table and delete its data and metadata files."""
        ident = split_name(name)
        if not self.catalog.table_exists(ident):
            raise TableNotFound(name, self._close_matches(name), self._known(20))
        self.catalog.purge_table(ident)

    def gc(
        self,
        older_than_s: float | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        store: ObjectStore | None = None,
        inbox: Path | None = None,
    ) -> GcReport:
        """Delete table files no metadata references, older than a window (and, given `store` and
        `inbox`, what killed uploads left there): see `table_gc`."""
        from lakehouse.data.table_gc import collect_garbage

        return collect_garbage(self, older_than_s, dry_run, progress, store, inbox)

    def close(self) -> None:
        engine = getattr(self._catalog, "engine", None)
        if engine is not None:
            engine.dispose()
        self._catalog = None
        self._current.clear()
