"""Errors of the data wing: object storage, tables and their schemas, ingest, SQL."""

from __future__ import annotations

import os
import re

from lakehouse.common.machine import WRITE_REFUSALS
from lakehouse.common.suggest import hint
from lakehouse.errors import ConflictError, ErrorKind, LakehouseError, NotFoundError, UnavailableError, UserError

__all__ = [
    "StorageError",
    "InvalidKey",
    "ObjectNotFound",
    "ObjectExists",
    "ObjectChanged",
    "ObjectTooLarge",
    "InvalidPut",
    "StorageWriteFailed",
    "TableInAnotherHome",
    "TableError",
    "TableNotFound",
    "TableUnreadable",
    "TableConflict",
    "SchemaConflict",
    "CatalogSettingError",
    "CatalogBusy",
    "CatalogUnavailable",
    "IngestError",
    "SqlRejected",
    "SqlError",
    "SqlTimeout",
    "SqlResultTooLarge",
    "SqlSettingError",
    "SharedLogError",
]


# object storage ------------------------------------------------------------------------------
class StorageError(LakehouseError):
    """Base of every object-store error; raised itself when the store cannot be opened or reached
    (a bad URL, an S3 endpoint that does not answer): unavailable."""

    kind = ErrorKind.UNAVAILABLE


class InvalidKey(StorageError, UserError):
    """A key (or list prefix) that breaks a key rule; raised before any I/O."""

    kind = ErrorKind.USER


class ObjectNotFound(StorageError, NotFoundError):
    """No object under this key."""

    kind = ErrorKind.NOT_FOUND


class ObjectExists(StorageError, ConflictError):
    """A create of a key another writer holds already; nothing was stored."""

    kind = ErrorKind.CONFLICT


class ObjectChanged(StorageError, ConflictError):
    """A replace of an object another writer changed or removed since it was read; nothing was stored."""

    kind = ErrorKind.CONFLICT


class ObjectTooLarge(StorageError, UserError):
    """A PUT larger than the cap of its key's prefix; nothing was stored."""

    kind = ErrorKind.USER


class InvalidPut(StorageError, UserError, TypeError):
    """A PUT given data it cannot store (not bytes or a stream, a wrong or negative length); raised
    before any I/O. A ValueError and a TypeError, as the builtins it replaces were."""

    kind = ErrorKind.USER


class StorageWriteFailed(StorageError):
    """The file system refused a write part-way (no space left, a quota, a read-only mount); what the
    write had put down is removed. The message names what was written, where, and the fix."""

    def __init__(self, what: str, where: str, cause: OSError) -> None:
        self.what, self.where, self.errno = what, where, cause.errno
        why, fix = WRITE_REFUSALS.get(cause.errno or 0, (None, "try again once it is fixed"))
        why = why or (os.strerror(cause.errno) if cause.errno else str(cause).splitlines()[0])
        super().__init__(f"{why} while writing {what} under {where}: nothing was written; {fix}")

    @staticmethod
    def names(exc: BaseException) -> bool:
        """Whether `exc` is a refusal of the file system this error names (not one of ours)."""
        return isinstance(exc, OSError) and not isinstance(exc, LakehouseError) and exc.errno in WRITE_REFUSALS


# tables --------------------------------------------------------------------------------------
class TableError(UserError):
    """A table operation was given something it cannot use (bad name, unknown snapshot, …)."""


class TableNotFound(TableError, NotFoundError):
    kind = ErrorKind.NOT_FOUND

    def __init__(self, name: str, suggestions: list[str], known: list[str] | None = None) -> None:
        self.name = name
        self.suggestions = suggestions
        self.known = known
        listed = "" if known is None else f" (known tables: {', '.join(known) or 'none'})"
        super().__init__(f"table {name!r} not found{hint(suggestions)}{listed}")


class SnapshotFilesMissing(StorageError):
    """A file a table's snapshot lists (its manifest list or a manifest) is gone from the store:
    removed by `lakehouse gc` while a write ran (with --force, or another engine's write that took
    longer than gc's age window: gc sees only our own writes in flight), or by hand. The snapshot
    before it may read."""

    def __init__(self, table: str, snapshot_id: int, parent_id: int | None, path: str | None) -> None:
        self.table, self.snapshot_id, self.parent_id, self.path = table, snapshot_id, parent_id, path
        before = f"; `lakehouse sql --snapshot {parent_id}` reads the snapshot before it" if parent_id else ""
        super().__init__(
            f"table {table!r} cannot be read at snapshot {snapshot_id}: a file it lists is missing from its store "
            f"({path or 'a manifest'}), removed by `lakehouse gc` while a write ran (with --force, or another "
            f"engine's write that took longer than gc's age window), or by hand{before}"
        )


def missing_path(exc: OSError) -> str | None:
    """The file a store's FileNotFoundError is about (pyarrow names it in its text only)."""
    named = re.search(r"'([^']+)'", str(exc))
    return exc.filename or (named.group(1) if named else None)


class EqualityDeletesUnsupported(TableError):
    """A snapshot holds equality delete files, which other engines write in merge-on-read mode (Spark,
    Flink, Trino) and pyiceberg cannot apply: the table can be neither read nor rewritten here."""

    def __init__(self, table: str, snapshot_id: int, rows: str) -> None:
        self.table, self.snapshot_id = table, snapshot_id
        super().__init__(
            f"table {table!r} at snapshot {snapshot_id} has {rows} row(s) deleted by equality delete files, which "
            "another engine wrote (merge-on-read) and this one cannot apply, so the table can be neither read nor "
            "rewritten here; compact the deletes away with that engine (Spark: CALL system.rewrite_data_files with "
            "options => map('delete-file-threshold', '1')) and try again"
        )


class TableUnreadable(StorageError):
    """A table whose metadata the catalog points at cannot be read (a file removed or damaged by
    hand, a storage failure); the other tables are unaffected. Its older metadata files, if any,
    are named: a copy of one under the current name brings the table back to that snapshot."""

    def __init__(
        self, name: str, cause: BaseException, metadata: str | None, older: list[str], gone: str | None = None
    ) -> None:
        self.name, self.metadata, self.older, self.gone = name, metadata, older, gone
        if metadata and isinstance(cause, FileNotFoundError) and gone:
            why = (
                f"its metadata file {metadata} is missing, and so is its whole warehouse {gone}: a home moved or "
                "restored to another path still names the old one (Iceberg records absolute paths); put the home "
                f"back at its old path, or link that path to it (ln -s NEW_PATH {os.path.dirname(gone)})"
            )
        elif metadata and isinstance(cause, FileNotFoundError):
            why = f"its metadata file {metadata} is missing"
        else:
            first = str(cause).splitlines()[0] if str(cause) else ""
            why = f"its metadata{f' {metadata}' if metadata else ''} failed to load ({type(cause).__name__}: {first})"
            if type(cause).__name__ == "ValidationError":  # pyiceberg's: the file is there but not metadata
                why = f"its metadata file{f' {metadata}' if metadata else ''} is damaged: not valid table metadata"
        hint = (
            f"; the one before it is {older[-1]}: a copy of it under the missing name restores the table as it was"
            if older and isinstance(cause, FileNotFoundError)
            else ""
        )
        super().__init__(f"table {name!r} cannot be read: {why}{hint}")


def table_unreadable(name: str, exc: BaseException, location: str | None = None) -> TableUnreadable:
    """TableUnreadable naming the metadata file (the catalog's `location`, else the one the error
    names) and the older ones beside it (a local warehouse; an object store is not listed here)."""
    found = re.search(r"(?:file://)?(/[^'\"]+\.metadata\.json)", location or str(exc))
    metadata = found.group(1) if found else location
    older: list[str] = []
    if metadata and os.path.isdir(os.path.dirname(metadata)):
        folder, current = os.path.dirname(metadata), os.path.basename(metadata)
        names = (f for f in os.listdir(folder) if f.endswith(".metadata.json") and f < current)
        older = sorted(os.path.join(folder, f) for f in names)
    # <warehouse>/<namespace>/<table>/metadata/<file>: a warehouse that is not there at all was moved
    warehouse = metadata.rsplit("/", 4)[0] if metadata and metadata.count("/") > 4 else None
    gone = warehouse if warehouse and not os.path.isdir(warehouse) else None
    return TableUnreadable(name, exc, metadata, older, gone)


class TableInAnotherHome(TableError):
    """The catalog names table files in another warehouse than this home's: the home was copied or
    moved (Iceberg records absolute paths), or another tool placed the table there (a legal
    `location`). A write would land outside this home, in the other home's files; refused."""

    def __init__(self, name: str, location: str, warehouse: str) -> None:
        self.name, self.location, self.warehouse = name, location, warehouse
        super().__init__(
            f"table {name!r} lives in another warehouse ({location}), not this home's ({warehouse}): this home "
            "was copied or moved from there, or another tool placed the table there, and a write would land "
            "outside this home; nothing was written. A copied or moved home: put it back at its old path (or "
            "link the old path to it); either way, ingest the data into this home under a new table name"
        )


class TableConflict(TableError, ConflictError):
    """Other writers kept committing to the table while this write tried to; nothing was written."""

    kind = ErrorKind.CONFLICT

    def __init__(self, name: str, attempts: int, cause: BaseException | None = None) -> None:
        self.name, self.attempts, self.cause = name, attempts, cause
        super().__init__(
            f"table {name!r} was changed by another writer during each of {attempts} attempts to commit "
            "this write; nothing was written: retry it"
        )


class SchemaConflict(UserError):
    """Incoming data does not fit the table's schema; names the column and both types."""

    def __init__(self, where: str, detail: str, column: str | None = None) -> None:
        self.where, self.detail, self.column = where, detail, column
        super().__init__(f"{where}: column {column!r}: {detail}" if column else f"{where}: {detail}")


class CatalogSettingError(UserError):
    """The setting `catalog_url` is not a SQLAlchemy URL this installation can open (unparsable, an
    unknown dialect, a driver that is not installed)."""


class CatalogUnavailable(UnavailableError):
    """The catalog database named by `catalog_url` cannot be reached or refused the connection."""


class CatalogBusy(CatalogUnavailable):
    """The catalog server ended a statement at `catalog_statement_timeout_s` (a lock held by another
    session): its transaction was rolled back, so a write it was part of did not land."""


# ingest --------------------------------------------------------------------------------------
class IngestError(UserError):
    """A source file cannot be ingested; nothing was written. Says which file, line and column."""

    def __init__(
        self,
        path: str,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = [path]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


# SQL -----------------------------------------------------------------------------------------
class SqlRejected(UserError):
    """The statement is not a single read-only query."""


class SqlError(UserError):
    """The query was allowed but failed (unknown table or column, type error, …)."""


class SqlTimeout(SqlError):
    pass


class SqlCallerGone(SqlError):
    """The HTTP client of a query closed its connection: its worker is ended, not left running for
    nobody (recorded in the op; nobody hears the answer)."""


class SqlResultTooLarge(SqlError):
    """The answer is larger than `sql_result_max_bytes`; refused while fetching (400, as before)."""


class SqlSettingError(UserError):
    """A SQL resource setting (`sql_memory_limit`, `sql_threads`, ...) that DuckDB does not accept."""


class SqlBusy(UnavailableError):
    """Every SQL worker stayed busy while the query waited for one (503: try again)."""


class SqlWorkerFailed(LakehouseError):
    """A SQL worker raised something that is not one of our errors (a bug, a storage failure): 500,
    as it would be in-process; the message names the exception."""


# shared state -----------------------------------------------------------------------------------
class SharedLogError(UserError):
    """A shared log (ops, playbooks, pathway, evidence flushed to the lakehouse) asked for by a
    name it does not have."""
