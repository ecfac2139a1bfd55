"""Markers of table writes in flight, so that `lakehouse gc` leaves their files alone.

A write's data files exist before its commit references them; gc's age window alone kept them only
while the write was younger than the window (an upsert rewriting a big table, or a slow object
store, can take longer). A write now puts a marker under its table's location,
`<table>/inflight/<uuid>.json`, before its first file and removes it after its commit (or its
failure); gc keeps every unreferenced file of a table with a marker younger than
`MARKER_TRUSTED_S`. A writer killed mid-write cannot remove its marker: past that age gc removes
the marker and treats the table's files as usual, so a dead writer blocks gc for hours, not forever.
Markers live in the warehouse, beside the files they guard, so gc on another machine sees them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pyiceberg.io import FileIO

log = logging.getLogger(__name__)

MARKER_DIR = "inflight"
MARKER_TRUSTED_S = 12 * 3600.0  # longer than any write should take; a killed writer's marker then expires
# <namespace>/<table>/inflight/<marker>, relative to the warehouse root
_MARKER = re.compile(rf"^(?P<table>[^/]+/[^/]+)/{MARKER_DIR}/[^/]+\.json$")


@contextmanager
def writing(io: FileIO, table_location: str) -> Iterator[None]:
    """Hold a marker under `table_location` while the block writes and commits. A marker that
    cannot be written fails the write before any of its files exists (gc could not see it)."""
    marker = f"{table_location.rstrip('/')}/{MARKER_DIR}/{uuid.uuid4().hex}.json"
    note = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    with io.new_output(marker).create(overwrite=True) as out:
        out.write(json.dumps(note).encode())
    try:
        yield
    finally:
        try:
            io.delete(marker)
        except Exception:  # noqa: BLE001 - gc removes it once it is older than MARKER_TRUSTED_S
            log.warning("could not remove the in-flight marker %s", marker, exc_info=True)


def marker_table(relative_path: str) -> str | None:
    """`<namespace>/<table>` when `relative_path` (from the warehouse root) is a write marker."""
    match = _MARKER.match(relative_path)
    return match.group("table") if match else None
