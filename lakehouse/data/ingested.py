"""What a table remembers of the files ingested into it: each ingest's snapshot carries the file's
content hash and format in its summary, so the same file given again is known (and an upsert of it
is not repeated). Expired snapshots hand theirs on to the table property that
`lakehouse.data.snapshot_expiry` keeps."""

from __future__ import annotations

from typing import Any

from pyiceberg.table.snapshots import ancestors_of

SOURCE_SHA_KEY = "lakehouse.source-sha256"
SOURCE_FORMAT_KEY = "lakehouse.source-format"


def ingested_snapshot(tbl: Any, sha256: str, upsert: bool = False) -> int | None:
    """The snapshot id that ingested content `sha256` and whose data is still in the table `tbl`
    (as loaded: the state a write is planned on).

    Walks back from the current snapshot; a replace that did not come from ingest (an overwrite by
    `write_arrow`) ends the walk, since the older data is gone. For an `upsert`, so does any later
    replace, another file's upsert too: it may have changed the rows this content set, and upserting
    it again puts them back (re-appending would add rows twice)."""
    for snap in ancestors_of(tbl.current_snapshot(), tbl.metadata):
        if snap.summary is None:
            continue
        source = snap.summary.additional_properties.get(SOURCE_SHA_KEY)
        if source == sha256:
            return snap.snapshot_id
        if (source is None or upsert) and snap.summary.operation.value in ("overwrite", "delete"):
            return None
    return None
