"""Garbage collection of table files: what crashed or lost writes leave in the warehouse.

`collect_garbage` deletes files under the warehouse's table directories (`<ns>/<table>/data|metadata`)
that no metadata of any table references and that are older than a window, and (given the object
store and the inbox) what killed uploads left there; `lakehouse gc`, the `tables.gc` mode and the `tables-gc`
deployment reach it through `Tables.gc`.
"""

from __future__ import annotations

import functools
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pyiceberg.table import StaticTable, Table

from lakehouse.common.paths import UPLOAD_PREFIX
from lakehouse.common.progress import Progress, no_progress
from lakehouse.data.errors import StorageError, TableError
from lakehouse.data.failed_writes import warehouse_before_plain_paths
from lakehouse.data.storage import Sweep
from lakehouse.data.write_markers import MARKER_TRUSTED_S, marker_table

if TYPE_CHECKING:
    from lakehouse.data.storage import ObjectStore
    from lakehouse.data.tables import Tables

# A caller that cannot pass `progress` to Tables.gc (the `tables.gc` mode) sets it here: (stage, done, total).
GC_PROGRESS: ContextVar[Progress | None] = ContextVar("lakehouse_gc_progress", default=None)


def collect_garbage(
    tables: Tables,
    older_than_s: float | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    store: ObjectStore | None = None,
    inbox: Path | None = None,
) -> GcReport:
    """Delete the files under the warehouse's table directories (`<ns>/<table>/data|metadata`)
    that no metadata of any table references (not the current metadata, its log of earlier
    metadata files, any snapshot's manifest list, manifests and data files, nor statistics files)
    and that are older than `older_than_s` seconds (default: setting table_gc_older_than_s).

    These are what crashed or lost writes leave behind. A table a write is in flight to (its
    marker, see `write_markers`) keeps its unreferenced files whatever their age; a killed
    writer's marker expires after MARKER_TRUSTED_S and goes. A table whose metadata cannot be
    read keeps every file under its directory. Files are listed before the references are read, so a
    commit landing meanwhile is seen. With `store`, what killed uploads left in the object store
    (a `file://` store's `.lhtmp-*` files, an S3 bucket's incomplete multipart uploads) older than
    the window goes too; with `inbox`, the folders of HTTP uploads whose API was killed (`sweep_uploads`)."""
    from pyarrow import fs as pafs
    from pyiceberg.io.pyarrow import PyArrowFileIO

    window = float(tables.settings.table_gc_older_than_s if older_than_s is None else older_than_s)
    if window < 0:
        raise TableError(f"gc: the age window must be 0 or more seconds, got {window}")
    report = progress or no_progress
    io = PyArrowFileIO(tables.catalog.properties)
    scheme, netloc, root = io.parse_location(tables.settings.warehouse.rstrip("/"))
    filesystem = io.fs_by_scheme(scheme, netloc)
    now = time.time()

    report("listing files", 0, 1)
    selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
    files = [i for i in filesystem.get_file_info(selector) if i.type == pafs.FileType.File]
    candidates = [i for i in files if _table_file(root, i.path)]
    in_flight, stale_markers = _writes_in_flight(root, files, now)
    report("listing files", 1, 1)

    catalogued = _catalogued_tables(tables)
    default_warehouse = tables.settings.warehouse_url is None  # a path of this home's, made absolute
    older_root = warehouse_before_plain_paths(root) if default_warehouse else None
    warehouse_shown = tables.settings.warehouse.rstrip("/")
    referenced: set[str] = set()
    protected: list[str] = []  # table directories whose references could not be read
    errors: list[str] = []
    for done, entry in enumerate(catalogued):
        report("reading table metadata", done, len(catalogued))
        name = entry.shown
        own_dirs = [f"{root.rstrip('/')}/{entry.namespace}{suffix}/{entry.table}/" for suffix in ("", ".db")]
        if entry.metadata_location:
            own_dirs.append(_path_key(entry.metadata_location).rsplit("/metadata/", 1)[0] + "/")
        foreign = entry.catalog != tables.catalog.name
        if foreign and (not entry.metadata_location or _outside_warehouse(entry.metadata_location, root)):
            # another tool's catalog may well keep its tables in another warehouse, on another store
            protected += own_dirs
            continue
        try:
            tbl = _load(tables, entry)
            referenced |= {_path_key(p) for p in _referenced_files(tbl)}
        except Exception as exc:  # noqa: BLE001 - keep everything of a table we cannot read
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            protected += own_dirs
            continue
        # only the home's own catalog: homes sharing a catalog server each name their own tables' places
        elsewhere = _outside_warehouse(tbl.metadata_location, root) if tables.settings.catalog_url is None else None
        if elsewhere and elsewhere == older_root:
            continue  # this home's own tables as an older version placed them: gc sweeps only `root`
        if elsewhere:
            # A home copied or restored elsewhere (cp -a, rsync, tar): its catalog still names the
            # original's files, so nothing under this warehouse counted as referenced and gc removed
            # every table file of the copy (a copy's files keep their old mtimes, so all were "old").
            errors.append(
                f"{name}: its metadata is {tbl.metadata_location}, outside this warehouse {warehouse_shown}: "
                f"this home was copied or moved from the one whose warehouse is {elsewhere} (Iceberg records "
                "absolute paths), or another tool placed the table there; every file of the table here was kept"
            )
            protected += own_dirs
    report("reading table metadata", len(catalogued), len(catalogued))

    result = GcReport(
        older_than_s=window,
        dry_run=dry_run,
        tables=len(catalogued),
        files_seen=len(candidates),
        referenced=len(referenced),
        errors=errors,
        writes_in_flight=sum(in_flight.values()),
    )
    doomed = [(info, now - info.mtime.timestamp()) for info in stale_markers]  # mtime: they were picked by age
    for info in candidates:
        if info.path in referenced or any(info.path.startswith(p) for p in protected):
            result.kept_referenced += 1
            continue
        if any(info.path.startswith(p) for p in in_flight):  # a write's files before its commit
            result.kept_in_flight += 1
            continue
        age = now - info.mtime.timestamp() if info.mtime is not None else 0.0
        if age < window:
            result.kept_young += 1
            continue
        doomed.append((info, age))
    for done, (info, age) in enumerate(doomed):
        report("deleting" if not dry_run else "checking", done, len(doomed))
        if not dry_run:
            try:
                filesystem.delete_file(info.path)
            except FileNotFoundError:
                continue
            except Exception as exc:  # noqa: BLE001
                result.errors.append(f"{info.path}: {type(exc).__name__}: {exc}")
                continue
        result.removed.append(GcFile(path=f"{scheme}://{info.path}", bytes=int(info.size or 0), age_s=round(age, 1)))
    report("deleting" if not dry_run else "checking", len(doomed), len(doomed))
    if store is not None:
        result.store_temp_files = _sweep(lambda: store, window, dry_run, result, f"object store {store.url}")
    warehouse = tables.settings.warehouse
    if scheme == "s3" and (store is None or not f"{warehouse.rstrip('/')}/".startswith(f"{store.url.rstrip('/')}/")):
        # pyarrow writes a table's data files in parts: a killed write leaves an incomplete upload
        # (billed, parts and all, until aborted), which no listing of files shows
        from lakehouse.data.storage import open_store

        opened = functools.partial(open_store, warehouse, tables.settings)
        result.warehouse_uploads = _sweep(opened, window, dry_run, result, f"warehouse {warehouse}")
    if inbox is not None:
        swept = sweep_uploads(inbox, window, dry_run)
        result.removed += [GcFile(path=location, bytes=size, age_s=age) for location, size, age in swept.removed]
        result.upload_folders = len(swept.removed)
        result.errors += [f"inbox {inbox}: {error}" for error in swept.errors]
    result.removed_bytes = sum(f.bytes for f in result.removed)
    return result


@dataclass(frozen=True)
class _Catalogued:
    shown: str  # `namespace.table`, with its catalog's name when that is not ours
    catalog: str
    namespace: str  # dotted when nested
    table: str
    metadata_location: str | None


def _catalogued_tables(tables: Tables) -> list[_Catalogued]:
    """Every table the catalog database holds. Other Iceberg tools share it: a table under another
    catalog name (pyiceberg's usual `default`, a Spark JDBC catalog) or in a nested namespace is not
    in `Tables.list`, yet its files lie in this warehouse, and gc removed every one of them."""
    from sqlalchemy import text

    ours = tables.catalog.name
    with tables.catalog.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT catalog_name, table_namespace, table_name, metadata_location FROM iceberg_tables")
        ).all()
    found = [
        _Catalogued(
            f"{namespace}.{table}" if catalog == ours else f"{namespace}.{table} (catalog {catalog!r})",
            catalog,
            namespace,
            table,
            location,
        )
        for catalog, namespace, table, location in rows
    ]
    return sorted(found, key=lambda entry: (entry.catalog != ours, entry.shown))


def _load(tables: Tables, entry: _Catalogued) -> Table:
    if entry.catalog == tables.catalog.name:
        return tables.catalog.load_table((*entry.namespace.split("."), entry.table))
    if not entry.metadata_location:
        raise TableError(f"the catalog database names no metadata file for {entry.shown}")
    return StaticTable.from_metadata(entry.metadata_location, tables.catalog.properties)


def _writes_in_flight(root: str, files: list, now: float) -> tuple[dict[str, int], list]:
    """The table directories (`<root>/<ns>/<table>/`) holding a write marker younger than
    MARKER_TRUSTED_S, with how many each, and the others (writers killed mid-write, or markers dated
    more than that ahead)."""
    prefix = root.rstrip("/") + "/"
    live: dict[str, int] = {}
    stale = []
    for info in files:
        table = marker_table(info.path[len(prefix) :]) if info.path.startswith(prefix) else None
        if table is None:
            continue
        # a marker dated further ahead than the trust window never came from a live write (a clock
        # stepped back, or a writer's clock far ahead): kept as live, it held the table's gc off for good
        if info.mtime is not None and abs(now - info.mtime.timestamp()) >= MARKER_TRUSTED_S:
            stale.append(info)
        else:  # no time: trust it, as a file gc cannot date is never collected either
            live[f"{prefix}{table}/"] = live.get(f"{prefix}{table}/", 0) + 1
    return live, stale


def _sweep(store: Callable[[], ObjectStore], window: float, dry_run: bool, result: GcReport, where: str) -> int:
    """What killed uploads left in a store, into `result`; how many. The tables' own files are
    collected all the same when the store fails."""
    try:
        swept = store().sweep_temp_files(window, dry_run)
    except StorageError as exc:
        swept = Sweep(errors=[str(exc)])
    known = {f.path for f in result.removed}  # a store inside the other's prefix lists its uploads again
    found = [GcFile(path=place, bytes=size, age_s=age) for place, size, age in swept.removed if place not in known]
    result.removed += found
    result.errors += [f"{where}: {error}" for error in swept.errors]
    return len(found)


def sweep_uploads(inbox: Path, older_than_s: float, dry_run: bool = False) -> Sweep:
    """The `.upload-*` folders in the inbox older than the window: a request removes its own when
    it ends, so only an API killed mid-request leaves one. Its age is that of the newest file in it
    (an upload being written moves it); the user's own files in the inbox are never touched."""
    now, swept = time.time(), Sweep()
    try:
        folders = [p for p in inbox.iterdir() if p.name.startswith(UPLOAD_PREFIX)]
    except (FileNotFoundError, NotADirectoryError):
        return swept
    for folder in folders:
        try:
            if folder.is_symlink() or not folder.is_dir():
                continue
            inside = [p.lstat() for p in folder.rglob("*")]
            age = now - max([folder.lstat().st_mtime, *(st.st_mtime for st in inside)])
            size = sum(st.st_size for st in inside if stat.S_ISREG(st.st_mode))
        except FileNotFoundError:
            continue  # its request just ended
        if age < older_than_s:
            continue
        if not dry_run:
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                swept.errors.append(f"{folder.as_uri()}: {exc.strerror or exc}")
                continue
        swept.removed.append((folder.as_uri(), size, round(age, 1)))
    return swept


@dataclass
class GcFile:
    path: str
    bytes: int
    age_s: float


@dataclass
class GcReport:
    """What `Tables.gc` removed (or, with dry_run, would remove) and what it kept."""

    older_than_s: float
    dry_run: bool
    tables: int = 0
    files_seen: int = 0  # files under table directories
    referenced: int = 0  # distinct files the tables' metadata references
    kept_referenced: int = 0
    kept_young: int = 0
    kept_in_flight: int = 0  # unreferenced files of a table a write is in flight to (its marker)
    writes_in_flight: int = 0  # markers of writes in flight (younger than MARKER_TRUSTED_S)
    removed: list[GcFile] = field(default_factory=list)
    store_temp_files: int = 0  # of `removed`: what killed uploads left in the object store (temp files, parts)
    warehouse_uploads: int = 0  # of `removed`: incomplete uploads of killed table writes (an S3 warehouse)
    upload_folders: int = 0  # of `removed`: inbox folders of HTTP uploads whose API was killed
    removed_bytes: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        left = [f"{self.store_temp_files} left by killed uploads in the object store"] if self.store_temp_files else []
        left += (
            [f"{self.warehouse_uploads} incomplete upload(s) of killed table writes"] if self.warehouse_uploads else []
        )
        left += (
            [f"{self.upload_folders} upload folder(s) a killed API left in the inbox"] if self.upload_folders else []
        )
        uploads = f" ({'; '.join(left)})" if left else ""
        return (
            f"gc: {verb} {len(self.removed)} unreferenced file(s){uploads}"
            f", {_mib(self.removed_bytes)}, older than "
            f"{format_duration(self.older_than_s)}; kept {self.kept_referenced} referenced and "
            f"{self.kept_young} younger unreferenced file(s) of {self.tables} table(s)"
            + (
                f"; {self.writes_in_flight} write(s) in flight: kept the {self.kept_in_flight} unreferenced "
                "file(s) of their tables"
                if self.writes_in_flight
                else ""
            )
            + (f"; {len(self.errors)} error(s)" if self.errors else "")
        )


def _mib(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


_TABLE_FILE = re.compile(r"^[^/]+/[^/]+/(data|metadata)/.+")  # <namespace>[.db]/<table>/...


def _table_file(root: str, path: str) -> bool:
    """Only files in Iceberg table directories are gc's business; anything else is left alone."""
    prefix = root.rstrip("/") + "/"
    return path.startswith(prefix) and bool(_TABLE_FILE.match(path[len(prefix) :]))


def _path_key(location: str) -> str:
    """A file location as the warehouse file system lists it (`/abs/path`, `bucket/key`)."""
    from pyiceberg.io.pyarrow import PyArrowFileIO

    return PyArrowFileIO.parse_location(location)[2]


def _outside_warehouse(metadata_location: str, root: str) -> str | None:
    """The warehouse a table's metadata lies in (the folder holding `<namespace>/<table>/metadata/`)
    when that is not `root`, the warehouse gc sweeps; None when it is under `root`."""
    path = _path_key(metadata_location)
    if path.startswith(root.rstrip("/") + "/"):
        return None
    return path.rsplit("/", 4)[0] if path.count("/") > 4 else path


def _referenced_files(tbl: Table) -> Iterable[str]:
    """Every file the table's metadata points at, in any snapshot."""
    meta = tbl.metadata
    yield tbl.metadata_location
    for logged in meta.metadata_log:
        yield logged.metadata_file
    for stats in list(getattr(meta, "statistics", []) or []) + list(getattr(meta, "partition_statistics", []) or []):
        yield stats.statistics_path
    seen_manifests: set[str] = set()
    for snap in meta.snapshots:
        yield snap.manifest_list
        for manifest in snap.manifests(tbl.io):
            if manifest.manifest_path in seen_manifests:
                continue
            seen_manifests.add(manifest.manifest_path)
            yield manifest.manifest_path
            for entry in manifest.fetch_manifest_entry(tbl.io, discard_deleted=False):
                yield entry.data_file.file_path


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float) -> float:
    """`90`, `90s`, `30m`, `1h`, `2d`, `1w` -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise TableError(f"bad duration {text!r}: must be 0 or more")
        return float(text)
    match = _DURATION.match(str(text).lower())
    if not match:
        raise TableError(f"bad duration {text!r}: use a number of seconds or e.g. 90s, 30m, 1h, 2d, 1w")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def format_duration(seconds: float) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    # 599.9999999 must not read as "600s" beside a 10m limit, nor -0.0 as "-0s"
    return f"{seconds + 0.0:.12g}s"
