"""Iceberg tables through a pyiceberg SQL catalog (SQLite under LH_HOME, or any SQLAlchemy URL such
as PostgreSQL), with data and metadata in the warehouse (`file://` or `s3://`).

Names are `name` or `namespace.name`; a bare name lives in the namespace `lakehouse`. Every write
is one Iceberg transaction producing exactly one new snapshot, so a failed write leaves the table
at the snapshot it had.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone
from typing import Any, Iterable, Literal

import pyarrow as pa
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.table import Table, Transaction
from pyiceberg.table.snapshots import ancestors_of

from lakehouse.config import Settings
from lakehouse.table_schema import SchemaConflict, fit_to_table, plain_arrow_schema, to_storable
from lakehouse.suggest import close_matches, hint

DEFAULT_NAMESPACE = "lakehouse"
_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

__all__ = ["Tables", "TableError", "TableNotFound", "SchemaConflict", "DEFAULT_NAMESPACE", "split_name"]


class TableError(ValueError):
    """A table operation was given something it cannot use (bad name, unknown snapshot, …)."""


class TableNotFound(TableError, LookupError):
    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        super().__init__(f"table {name!r} not found{hint(suggestions)}")


def split_name(name: str) -> tuple[str, str]:
    """`name` -> (`lakehouse`, `name`); `ns.name` -> (`ns`, `name`); anything else is refused."""
    parts = name.split(".") if isinstance(name, str) else []
    if len(parts) == 1:
        parts = [DEFAULT_NAMESPACE, parts[0]]
    if len(parts) != 2 or not all(_PART.match(p) for p in parts):
        raise TableError(
            f"bad table name {name!r}: use `name` or `namespace.name` made of letters, digits "
            "and '_' (not starting with a digit)"
        )
    return parts[0], parts[1]


def qualified(name: str) -> str:
    return ".".join(split_name(name))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


class Tables:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._catalog = None
        self._catalog_lock = threading.RLock()
        self._current: dict[tuple[str, str], Table] = {}  # parsed tables by identifier, see load_current

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
        from pyiceberg.catalog.sql import SqlCatalog
        from sqlalchemy.exc import DatabaseError

        self.settings.home_dir.mkdir(parents=True, exist_ok=True)
        try:
            return SqlCatalog(DEFAULT_NAMESPACE, **self.catalog_properties())
        except DatabaseError:  # another process created the catalog tables at the same moment
            return SqlCatalog(DEFAULT_NAMESPACE, **self.catalog_properties())

    def load_current(self, name: str) -> Table:
        """The table at its current metadata, like `catalog.load_table`, but the parsed metadata is
        reused while the catalog still points at the same metadata file: one indexed SELECT per
        call instead of an ORM load and a JSON parse (~3 ms of every SQL query)."""
        from sqlalchemy import text

        namespace, table = split_name(name)
        with self.catalog.engine.connect() as conn:
            location = conn.execute(
                text("SELECT metadata_location FROM iceberg_tables WHERE catalog_name = :c "
                     "AND table_namespace = :n AND table_name = :t"),
                {"c": self.catalog.name, "n": namespace, "t": table},
            ).scalar()
        if location is None:
            raise NoSuchTableError(f"Table does not exist: {namespace}.{table}")
        with self._catalog_lock:
            cached = self._current.get((namespace, table))
        if cached is not None and cached.metadata_location == location:
            return cached
        loaded = self.catalog.load_table((namespace, table))
        with self._catalog_lock:
            self._current[(namespace, table)] = loaded
        return loaded

    def catalog_properties(self) -> dict[str, str]:
        s = self.settings
        props = {"uri": s.catalog, "warehouse": s.warehouse}
        if s.warehouse.startswith("s3://"):
            optional = {
                "s3.endpoint": s.s3_endpoint,
                "s3.access-key-id": s.s3_access_key,
                "s3.secret-access-key": s.s3_secret_key,
            }
            props.update({k: v for k, v in optional.items() if v})
            props["s3.region"] = s.s3_region
        return props

    def load(self, name: str) -> Table:
        ident = split_name(name)
        try:
            return self.catalog.load_table(ident)
        except NoSuchTableError:
            raise TableNotFound(name, self._close_matches(name)) from None

    def _close_matches(self, name: str) -> list[str]:
        known = self.list()
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
            "rows": self._row_count(current),
            "schema": [
                {"id": f.field_id, "name": f.name, "type": str(f.field_type), "required": f.required}
                for f in tbl.schema().fields
            ],
            "snapshots": snapshots,
        }

    @staticmethod
    def _row_count(snapshot) -> int:
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
            raise TableError(
                f"table {'.'.join(tbl.name())!r} has no snapshot {snapshot_id} (its snapshots: {known})"
            )
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
        if snap is None:
            empty = plain_arrow_schema(tbl.schema()).empty_table()
            return empty.select(columns) if columns else empty
        selected = tuple(columns) if columns else ("*",)
        scan = tbl.scan(
            row_filter=row_filter if row_filter is not None else AlwaysTrue(),
            selected_fields=selected,
            snapshot_id=snap.snapshot_id,
        )
        return scan.to_arrow()

    def source_already_ingested(self, name: str, sha256: str) -> int | None:
        """The snapshot id that ingested content `sha256` and whose data is still in the table.

        Walks back from the current snapshot; a replace that did not come from ingest (an
        overwrite by `write_arrow`) ends the walk, since the older data is gone."""
        tbl = self.load(name)
        for snap in ancestors_of(tbl.current_snapshot(), tbl.metadata):
            if snap.summary is None:
                continue
            source = snap.summary.additional_properties.get(SOURCE_SHA_KEY)
            if source == sha256:
                return snap.snapshot_id
            if source is None and snap.summary.operation.value in ("overwrite", "delete"):
                return None
        return None

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
        where = f"table {qualified(name)!r}"
        data = to_storable(table, where)
        tbl = self._load_or_create(name, data.schema)
        fitted = fit_to_table(data, tbl.schema(), where)
        props = {k: str(v) for k, v in (properties or {}).items()}
        with tbl.transaction() as tx:
            if fitted.new_columns:
                with tx.update_schema() as update:
                    update.union_by_name(fitted.data.schema)
            if mode == "append":
                tx.append(fitted.data, snapshot_properties=props)
            else:
                _replace_all(tx, tbl, fitted.data, props)
        return tbl.current_snapshot().snapshot_id

    def _load_or_create(self, name: str, schema: pa.Schema) -> Table:
        namespace, _ = split_name(name)
        try:
            return self.catalog.load_table(split_name(name))
        except NoSuchTableError:
            pass
        from sqlalchemy.exc import IntegrityError

        # "if not exists" is check-then-insert in pyiceberg: serialise it here, and let a losing
        # racer from another process load what the winner created.
        # Smaller data files than Iceberg's 512 MiB default: pyiceberg writes them in parallel and
        # DuckDB reads them in parallel (measured in bench/ingest_query.py on 2 cores).
        properties = {"write.target-file-size-bytes": str(self.settings.table_target_file_bytes)}

        def create() -> Table:
            self.catalog.create_namespace_if_not_exists(namespace)
            return self.catalog.create_table_if_not_exists(split_name(name), schema=schema, properties=properties)

        with self._catalog_lock:
            try:
                return create()
            except IntegrityError:
                return create()

    def drop(self, name: str) -> None:
        """Drop the table and delete its data and metadata files."""
        ident = split_name(name)
        if not self.catalog.table_exists(ident):
            raise TableNotFound(name, self._close_matches(name))
        self.catalog.purge_table(ident)

    def close(self) -> None:
        engine = getattr(self._catalog, "engine", None)
        if engine is not None:
            engine.dispose()
        self._catalog = None
        self._current.clear()


SOURCE_SHA_KEY = "lakehouse.source-sha256"


def _replace_all(tx: Transaction, tbl: Table, data: pa.Table, props: dict[str, str]) -> None:
    """Delete every current data file and add the new ones in ONE overwrite snapshot.

    pyiceberg's `overwrite` commits a DELETE and then an APPEND snapshot, so time travel would
    see an empty table in between; the snapshot producer below is what it uses internally."""
    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    current = tx.table_metadata.current_snapshot()
    old_files = [task.file for task in tbl.scan(snapshot_id=current.snapshot_id).plan_files()] if current else []
    with tx.update_snapshot(snapshot_properties=props).overwrite() as producer:
        for data_file in old_files:
            producer.delete_data_file(data_file)
        if len(data):
            for data_file in _dataframe_to_data_files(
                table_metadata=tx.table_metadata, write_uuid=producer.commit_uuid, df=data, io=tbl.io
            ):
                producer.append_data_file(data_file)
