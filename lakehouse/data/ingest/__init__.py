"""Ingest a CSV/TSV, JSON-lines or Parquet file into an Iceberg table.

Create or append; with `key`, upsert (incoming rows win) as one overwrite snapshot. The source
content's sha256 is kept in the summary of the snapshot that holds its rows (never in a separate
commit): the same content again is reported as `already_ingested` and writes nothing, while its
rows are in the table (once the snapshot expires, setting table_snapshots_kept, its hash is kept in
a table property, see snapshot_expiry; an upsert runs again, with nothing to write when its rows are
unchanged). Every check runs before the single commit, so a bad file leaves the table at the
snapshot it had; a commit that loses a race with another writer is planned again on the new
snapshot (see Tables.write_planned).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from lakehouse.data.delete_files import refuse_equality_deletes
from lakehouse.data.errors import SnapshotFilesMissing, missing_path
from lakehouse.data.ingest.errors import IngestError
from lakehouse.data.ingest.readers import FORMATS, detect_format, read_source
from lakehouse.data.ingested import SOURCE_FORMAT_KEY, SOURCE_SHA_KEY, ingested_snapshot
from lakehouse.data.snapshot_expiry import expire_old_snapshots, ingested_before_expiry
from lakehouse.data.table_names import caller_writable
from lakehouse.data.table_schema import (
    SchemaConflict,
    fit_to_table,
    plain_arrow_schema,
    to_storable,
)
from lakehouse.data.tables import Tables, Write

__all__ = ["IngestError", "IngestResult", "ingest_file", "FORMATS", "PROGRESS", "PROGRESS_MIN_BYTES"]

# nothing_to_write: a file of no rows (a header alone) into a table that exists; no snapshot is written
Status = Literal["created", "appended", "upserted", "already_ingested", "nothing_to_write"]
Progress = Callable[[str, float], None]  # (stage, overall fraction done 0..1)

# Files at least this big get a progress bar in the CLI.
PROGRESS_MIN_BYTES = 4 * 1024 * 1024
# A caller that cannot pass `progress` (a mode run through invoke_mode) sets it here instead.
PROGRESS: ContextVar[Progress | None] = ContextVar("lakehouse_ingest_progress", default=None)
_HASH_CHUNK = 8 * 1024 * 1024
_MOVED = "changed while it was opened: its path now leads elsewhere (a link); nothing was read"
_FD_LINKS = Path("/proc/self/fd")  # what each open descriptor of this process leads to (Linux)
# Test hook: seconds to sleep after an ingest's commit landed (a Ctrl-C there must not read as an
# abort: tests/flows/test_cli_ingest_interrupted.py). Unset in normal use.
PAUSE_AFTER_COMMIT_ENV = "LAKEHOUSE_TEST_PAUSE_AFTER_INGEST_COMMIT"


class IngestResult(BaseModel):
    table: str
    rows_in: int
    rows_total: int
    snapshot_id: int | None
    status: Status
    rows_updated: int = 0  # upsert: rows whose key the table held, replaced (changed or not)
    rows_inserted: int = 0  # rows added: every row of a create or append, an upsert's new keys
    source_sha256: str = ""
    commit_attempts: int = 1  # >1: the commit lost races with other writers and was planned again


def _read_file(path: Path, confined: bool) -> memoryview:
    """The file's bytes, read into memory. Not mapped: a mapped file cut short while it was read (a
    log rotation, a re-export) killed the process with SIGBUS, the API with it. `confined`: `path`
    was checked against the allowed roots as resolved, so the file opened must be the one it names
    (a folder on it swapped for a link between that check and this open led outside the roots)."""
    try:  # O_NONBLOCK: a FIFO must not hold the open until someone writes to it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | (os.O_NOFOLLOW if confined else 0))
    except FileNotFoundError:
        raise IngestError(str(path), "no such file") from None
    except OSError as exc:
        if confined and exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link where the check saw a file
            raise IngestError(str(path), _MOVED) from None
        raise IngestError(str(path), f"cannot be opened: {exc.strerror}") from None
    try:
        status = os.fstat(fd)
        size = status.st_size
        if not stat.S_ISREG(status.st_mode):
            raise IngestError(str(path), "not a regular file")
        if size == 0:
            raise IngestError(str(path), "the file is empty")
        if confined and _FD_LINKS.is_dir() and os.readlink(_FD_LINKS / str(fd)) != str(path):
            raise IngestError(str(path), _MOVED)
        data = bytearray(size)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            got = fh.readinto(data)
    finally:
        os.close(fd)
    if got != size:
        raise IngestError(str(path), f"changed while it was read: {size:,} bytes when opened, {got:,} could be read")
    return memoryview(data)


def _sha256(data: memoryview, report: Progress) -> str:
    digest = hashlib.sha256()
    for start in range(0, len(data), _HASH_CHUNK):
        digest.update(data[start : start + _HASH_CHUNK])
        report("hashing", 0.3 * min(start + _HASH_CHUNK, len(data)) / len(data))
    return digest.hexdigest()


def _check_keys(path: str, data: pa.Table, key: str) -> None:
    if key not in data.column_names:
        raise IngestError(path, f"key column {key!r} is not in the file (columns: {', '.join(data.column_names)})")
    keys = data.column(key)
    if pa.types.is_nested(keys.type):
        raise IngestError(
            path, f"the key holds {keys.type} values; a key is one value (text, a number, a date)", column=key
        )
    empty = pc.is_null(keys)
    if pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type):
        # a CSV's text column reads a blank cell as '': every later blank key would replace the last
        empty = pc.or_(empty, pc.equal(pc.utf8_trim_whitespace(keys), ""))
    elif pa.types.is_floating(keys.type):
        empty = pc.or_(empty, pc.is_nan(keys))  # NaN equals no key, itself included
    if pc.any(empty).as_py():
        row = pc.index(empty, True).as_py()
        raise IngestError(path, f"the key is empty in data row {row + 1}", column=key)
    counts = pc.value_counts(keys)
    dupes = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(dupes):
        value = dupes[0]["values"].as_py()
        rows = [i + 1 for i, v in enumerate(keys.to_pylist()) if v == value][:3]
        raise IngestError(path, f"key {value!r} appears more than once (data rows {rows})", column=key)


def ingest_file(
    tables: Tables,
    path: str | Path,
    table: str,
    key: str | None = None,
    format: str | None = None,
    progress: Progress | None = None,
    confined: bool = False,
) -> IngestResult:
    """Load `path` into `table`. The write is planned on the table as it is at commit time: if
    another writer commits first, the idempotency check, the schema fit and (for an upsert) the
    merge with the current rows run again on the new snapshot before the retry. `confined`: `path`
    was checked against the allowed roots (see _read_file)."""
    path = Path(path)
    name = caller_writable(table)  # never the lakehouse's own tables (shared state, corpora)
    report = progress or PROGRESS.get() or (lambda stage, fraction: None)
    data = _read_file(path, confined)
    fmt = detect_format(path, data, format)
    sha = _sha256(data, report)
    parsed: dict[tuple, pa.Table] = {}  # by the column types the table asks for (re-parse if they change)
    planned: dict[str, int] = {}  # rows_in, updated, upsert (a bool)

    def parse(iceberg_schema) -> pa.Table:
        typed = {f.name: f.type for f in plain_arrow_schema(iceberg_schema)} if iceberg_schema is not None else {}
        wanted = tuple((n, str(t)) for n, t in typed.items())
        if wanted not in parsed:
            report("parsing", 0.35)
            parsed.clear()
            parsed[wanted] = read_source(str(path), data, fmt, typed, tables.settings.ingest_parquet_max_decoded_bytes)
        return parsed[wanted]

    def plan(tbl) -> Write | None:
        planned.clear()
        earlier = ingested_snapshot(tbl, sha, upsert=bool(key)) if tbl is not None else None
        if earlier is not None:
            summary = tbl.metadata.snapshot_by_id(earlier).summary
            before = (summary.additional_properties if summary else {}).get(SOURCE_FORMAT_KEY)
            _same_format(name, str(path), before, f"snapshot {earlier}", fmt)
            return None
        if tbl is not None and not key and (before := ingested_before_expiry(tbl, sha)) is not None:
            _same_format(name, str(path), before, "a snapshot since expired", fmt)
            return None
        iceberg_schema = tbl.schema() if tbl is not None else None
        source = parse(iceberg_schema)
        if fmt == "jsonl":  # an object with no value is `{}`; a CSV or Parquet row of nulls is a row
            _refuse_rows_of_nothing(str(path), source, data)
        incoming = _checked(name, path, source, key, iceberg_schema)
        if tbl is not None and not len(incoming):  # a new table takes the file's columns; this one has them
            planned.update(empty=True)
            return None
        report("writing", 0.7)
        props = {SOURCE_SHA_KEY: sha, "lakehouse.source-file": path.name, SOURCE_FORMAT_KEY: fmt}
        planned.update(rows_in=len(incoming), updated=0, upsert=bool(key and tbl is not None))
        if not key or not planned["upsert"]:
            return Write(incoming, properties=props)
        props["lakehouse.upsert-key"] = key
        current_snapshot = tbl.current_snapshot()
        if current_snapshot is None:
            current = plain_arrow_schema(tbl.schema()).empty_table()
        else:
            refuse_equality_deletes(name, current_snapshot)
            # the rows of the very snapshot this write commits on top of, by the table's current column
            # names: given the snapshot's id, pyiceberg reads by the schema that snapshot was written
            # with, and a column another tool renamed since came back under its old name
            current = to_storable(tbl.scan().to_arrow(), name)
        replaced = pc.is_in(current.column(key), value_set=incoming.column(key))
        _one_row_a_key(name, str(path), current.filter(replaced), key)
        incoming = _kept_where_unsent(incoming, set(source.column_names), current.filter(replaced), key)
        planned["updated"] = pc.sum(replaced).as_py() or 0
        if planned["updated"] == len(incoming) and _holds(current.filter(replaced), incoming, key):
            return None  # upserted before, and a later upsert changed none of its rows: nothing to do
        kept = current.filter(pc.invert(replaced))
        merged = pa.concat_tables([kept, incoming], promote_options="default")
        return Write(merged, replace=True, properties=props)

    try:
        done = tables.write_planned(name, plan)
    except FileNotFoundError as exc:  # the table's current snapshot lists a file that is gone
        current = tables.load(name).current_snapshot()
        if current is None:
            raise
        missing = missing_path(exc)
        raise SnapshotFilesMissing(name, current.snapshot_id, current.parent_snapshot_id, missing) from None
    if done.skipped:
        assert done.table is not None  # the plan skips only a table that exists
        skipped: Status = "nothing_to_write" if planned.get("empty") else "already_ingested"
        report(skipped.replace("_", " "), 1.0)
        current = done.table.current_snapshot()
        return IngestResult(
            table=name,
            rows_in=0,
            rows_total=Tables.row_count(current),
            snapshot_id=current.snapshot_id if current else None,
            status=skipped,
            source_sha256=sha,
            commit_attempts=done.attempts,
        )
    assert done.table is not None and done.snapshot_id is not None  # a write that was not skipped committed
    if pause := os.environ.get(PAUSE_AFTER_COMMIT_ENV):
        time.sleep(float(pause))
    rows_total = Tables.row_count(done.table.metadata.snapshot_by_id(done.snapshot_id))
    expire_old_snapshots(done.table, tables.settings.table_snapshots_kept)
    report("done", 1.0)
    status: Status = "created" if done.created else ("upserted" if planned["upsert"] else "appended")
    rows_in, updated = int(planned["rows_in"]), int(planned["updated"])
    return IngestResult(
        table=name,
        rows_in=rows_in,
        rows_total=rows_total,
        snapshot_id=done.snapshot_id,
        status=status,
        rows_updated=updated,
        rows_inserted=rows_in - updated,
        source_sha256=sha,
        commit_attempts=done.attempts,
    )


def _refuse_rows_of_nothing(path: str, source: pa.Table, json_lines: memoryview) -> None:
    """A JSON object with no value (`{}`, every field null) stores nothing but a row of nulls. A new
    table refused a file of only such lines (it has no columns), a table that already had columns
    took them as rows of nulls: one rule now, whichever table the file goes to. (A CSV or Parquet
    row of empty cells is kept, as before: a spreadsheet's blank row, a row of nulls, is data there.)"""
    # by position: a file may name two columns alike (refused later, by name)
    if not source.num_rows or any(column.null_count == 0 for column in source.columns):
        return  # the common case, decided without a pass over the rows
    empty = pc.is_null(source.column(0))
    for column in source.columns[1:]:
        empty = pc.and_(empty, pc.is_null(column))
    if not pc.any(empty).as_py():
        return
    row = pc.index(empty, True).as_py()
    what = "holds no value (every column is null): a row needs at least one value; nothing was stored"
    line = _json_line_of_row(json_lines, row)
    if line is not None:
        raise IngestError(path, f"the row {what}", line=line)
    raise IngestError(path, f"data row {row + 1} {what}")


def _json_line_of_row(data: memoryview, row: int) -> int | None:
    """The line of JSON lines' `row` (the reader skips blank lines); None for a JSON array."""
    raw = bytes(data)
    if raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
        return None
    seen = -1
    for number, text in enumerate(raw.split(b"\n"), start=1):
        if text.strip():
            seen += 1
            if seen == row:
                return number
    return None


def _same_format(name: str, path: str, before: str | None, where: str, fmt: str) -> None:
    """The same content again is already ingested, unless it is now read another way: a file read
    with the wrong --format could not be read again with the right one (a silent "already ingested")."""
    if before and before != fmt:
        raise IngestError(
            path,
            f"this content was ingested into {name!r} read as {before} ({where}); read "
            f"as {fmt} its rows would stand beside those: ingest it into a new table",
        )


def _one_row_a_key(name: str, path: str, matched: pa.Table, key: str) -> None:
    """The table's rows an upsert replaces hold each key once: rows appended without `--key` may
    repeat one, and the upsert would replace them all with the file's one row."""
    counts = pc.value_counts(matched.column(key))
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        value, times = repeated[0]["values"].as_py(), repeated[0]["counts"].as_py()
        raise IngestError(
            path,
            f"table {name!r} holds key {value!r} in {times} rows (appended without --key), so an upsert on "
            f"{key!r} would replace them all with one; remove the repeats first, or append without --key",
            column=key,
        )


def _kept_where_unsent(incoming: pa.Table, sent: set[str], matched: pa.Table, key: str) -> pa.Table:
    """`incoming` with each replaced row's own values in the table's columns the file does not have:
    an upsert replaces what the file says, and a file of some columns had set the others to null."""
    unsent = [c for c in incoming.column_names if c not in sent and c in matched.column_names]
    if not unsent or not len(matched):
        return incoming
    at = pc.index_in(incoming.column(key), value_set=matched.column(key))  # null: a new key, nothing to keep
    for column in unsent:
        incoming = incoming.set_column(
            incoming.column_names.index(column), incoming.field(column), matched.column(column).take(at)
        )
    return incoming


def _holds(rows: pa.Table, incoming: pa.Table, key: str) -> bool:
    """Do `rows` (of the table, one per key of `incoming`) hold exactly what `incoming` says?"""
    if not set(incoming.column_names) <= set(rows.column_names):
        return False
    return rows.select(incoming.column_names).sort_by(key).equals(incoming.sort_by(key))  # other types: not equal


def _checked(name, path, incoming, key, iceberg_schema) -> pa.Table:
    """The parsed rows checked against the key and fitted to the table (raises IngestError)."""
    if key:
        _check_keys(str(path), incoming, key)
        if iceberg_schema is not None and key not in iceberg_schema.column_names:
            raise IngestError(str(path), f"key column {key!r} is not in table {name!r}")
    try:
        incoming = to_storable(incoming, str(path))
        if iceberg_schema is not None:
            incoming = fit_to_table(incoming, iceberg_schema, str(path)).data
    except SchemaConflict as exc:
        raise IngestError(str(path), exc.detail, column=exc.column) from None
    return incoming
