"""Cleaning up after a table write that did not land; refusing one that would land in another home;
naming a catalog that refused one.

pyarrow writes a data file as it goes. A disk that fills mid-file leaves a torn file the write
never learns the name of (pyiceberg's generator raised before yielding it), and on a full disk
that file holds exactly the space every later write needs: a 1.5 MB torn file left 4 KB free and
the next one-row ingest into another table failed too. Such files are found by the write's uuid,
which pyiceberg puts in every data file name (`00000-0-<uuid>.parquet`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from lakehouse.data.errors import CatalogUnavailable, TableInAnotherHome

if TYPE_CHECKING:
    from lakehouse.config import Settings

log = logging.getLogger(__name__)


def delete_quietly(io: Any, paths: list[str], producer: Any) -> None:
    """Remove the files of a commit that did not land (best effort: `lakehouse gc` finds the rest)."""
    for path in dict.fromkeys(paths):
        try:
            io.delete(path)
        except Exception:
            log.warning("could not delete uncommitted data file %s", path, exc_info=True)
    clean = getattr(producer, "_clean_all_uncommitted", None)
    if clean is not None:
        try:
            clean()
        except Exception:
            log.warning("could not delete uncommitted manifests", exc_info=True)


def torn_data_files(io: Any, table_location: str, write_uuid: UUID) -> list[str]:
    """The data files under `table_location` a write named `write_uuid` started, listed whole or torn."""
    from pyarrow import fs as pafs

    try:
        scheme, netloc, path = io.parse_location(f"{table_location.rstrip('/')}/data")
        filesystem = io.fs_by_scheme(scheme, netloc)
        found = filesystem.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except Exception:  # noqa: BLE001 - an io without listing, a store that is down: gc finds them later
        log.warning("could not list the data files of a failed write under %s", table_location, exc_info=True)
        return []
    tag = str(write_uuid)
    return [f"{scheme}://{info.path}" for info in found if info.type == pafs.FileType.File and tag in info.base_name]


def place_of(location: str) -> str:
    """A table location as a person finds it: a local path without its `file://`."""
    return location.removeprefix("file://")


def refuse_table_in_another_home(tbl: Any, settings: Settings) -> None:
    """Refuse a write to a table whose files lie in another local warehouse than this home's, when
    the catalog is the home's own: a home copied or moved keeps its catalog's absolute paths, and
    its writes landed in the original home (whose gc then removed them, as files its own catalog
    does not name). Homes sharing a catalog server each name their own tables' places, and a
    warehouse set by hand (`warehouse_url`) may leave earlier tables where they were, on purpose."""
    if settings.catalog_url is not None or settings.warehouse_url is not None:
        return
    scheme, _, here = tbl.io.parse_location(settings.warehouse)
    table_scheme, _, there = tbl.io.parse_location(tbl.metadata.location)
    own = (here, warehouse_before_plain_paths(here))
    if scheme == table_scheme == "file" and not any(there.startswith(root.rstrip("/") + "/") for root in own):
        raise TableInAnotherHome(".".join(tbl.name()), there, here)


def warehouse_before_plain_paths(warehouse: str) -> str:
    """Where versions before 2026-12-07 kept the tables of the local warehouse `warehouse` (a path):
    they gave pyiceberg its file:// URI, which pyiceberg never unquotes, so a home whose path holds a
    space or a non-ASCII letter has them in the sibling the quoted path names (`lake%20house/...`).
    That folder is still this home's own: its catalog names it, and no other home writes there."""
    from pyiceberg.io.pyarrow import PyArrowFileIO

    return PyArrowFileIO.parse_location(Path(warehouse).as_uri())[2]


# SQLite's words for a write it refused for good, where "database is locked" is a race worth retrying
_SQLITE_REFUSALS = (
    "database or disk is full",
    "unable to open database file",
    "attempt to write a readonly database",
)


def refuse_when_catalog_refused(exc: BaseException, catalog: str) -> None:
    """A SQLite catalog that refused a write for good (a full disk, a path it cannot open, a
    read-only file) is named; anything else (a lost race, "database is locked") is left to retry:
    all of them counted as races, and after 8 attempts and 14 s of back-off the write said another
    writer had changed the table."""
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else ""
    if any(words in text.lower() for words in _SQLITE_REFUSALS):
        raise CatalogUnavailable(
            f"the catalog database {catalog} refused the write ({text}): nothing was written; free space "
            "under it, or fix its path, then try again"
        )
