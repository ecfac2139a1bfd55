"""Old snapshots of a table expire: every write is a snapshot, and the table's metadata file lists
them all, so without expiry each small append makes the next commit, the next read and every
metadata file bigger (300 one-row appends: 44 MB of metadata, appends 4x slower).

The newest `kept` snapshots stay readable (`lakehouse sql --snapshot`); an expired snapshot's files
that no kept snapshot shares are then unreferenced, and `lakehouse gc` removes them after its age
window. The current rows are never touched: the current snapshot and every branch or tag head stay.

An ingest's content hash lives in its snapshot's summary, which expires with it; the hashes (and
formats) of expired ingests whose rows the table still holds are kept in the table property
EXPIRED_INGESTS_KEY, so the same file again is still `already_ingested` (it was appended twice).
"""

from __future__ import annotations

import json
import logging

from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of

from lakehouse.data.ingested import SOURCE_FORMAT_KEY, SOURCE_SHA_KEY

log = logging.getLogger(__name__)

EXPIRED_INGESTS_KEY = "lakehouse.expired-ingests"  # JSON {sha256: format}, newest first
EXPIRED_INGESTS_KEPT = 1000  # about 80 KB in each metadata file


def expire_old_snapshots(tbl: Table, kept: int) -> int:
    """Expire the oldest snapshots of `tbl` past the newest `kept` (best effort: a commit that loses
    a race leaves them to the next write); how many expired. Expiry waits until the table holds a
    tenth more (at least 10 more) than `kept`: not one expiry commit for every write."""
    snapshots = sorted(tbl.snapshots(), key=lambda snap: snap.timestamp_ms)
    if len(snapshots) <= kept + max(10, kept // 10):
        return 0
    heads = {ref.snapshot_id for ref in tbl.metadata.refs.values()}  # the current one among them
    old = [snap.snapshot_id for snap in snapshots[:-kept] if snap.snapshot_id not in heads]
    if not old:
        return 0
    try:
        held = _ingests_still_held(tbl, set(old))
        if held != expired_ingests(tbl):  # before the expiry: a failure between leaves both known
            with tbl.transaction() as tx:
                tx.set_properties({EXPIRED_INGESTS_KEY: json.dumps(held)})
        tbl.maintenance.expire_snapshots().by_ids(old).commit()
    except Exception as exc:  # noqa: BLE001 - lost a race with another write: a later write expires them
        log.info("could not expire %d old snapshot(s) of %s: %s", len(old), ".".join(tbl.name()), exc)
        return 0
    return len(old)


def expired_ingests(tbl: Table) -> dict[str, str]:
    """{sha256: format} of the expired ingests whose rows the table held when they expired."""
    try:
        held = json.loads(tbl.properties.get(EXPIRED_INGESTS_KEY) or "{}")
    except ValueError:
        return {}
    return held if isinstance(held, dict) else {}


def ingested_before_expiry(tbl: Table, sha256: str) -> str | None:
    """The format content `sha256` was read as, when an expired ingest brought it and its rows are
    still in the table (no replace that did not come from ingest since); else None."""
    if any(_replaced_rows(snap) for snap in ancestors_of(tbl.current_snapshot(), tbl.metadata)):
        return None
    return expired_ingests(tbl).get(sha256)


def _replaced_rows(snap) -> bool:
    """Whether the snapshot replaced the table's rows other than by ingesting a file (the older
    rows are gone: re-ingesting what they came from adds them back)."""
    if snap.summary is None:
        return False
    source = snap.summary.additional_properties.get(SOURCE_SHA_KEY)
    return source is None and snap.summary.operation.value in ("overwrite", "delete")


def _ingests_still_held(tbl: Table, expiring: set[int]) -> dict[str, str]:
    """What EXPIRED_INGESTS_KEY holds once `expiring` are gone: their ingests (and the earlier
    expired ones) back to the newest replace, newest first, at most EXPIRED_INGESTS_KEPT."""
    held: dict[str, str] = {}
    for snap in ancestors_of(tbl.current_snapshot(), tbl.metadata):
        if _replaced_rows(snap):
            break
        summary = snap.summary.additional_properties if snap.summary is not None else {}
        if snap.snapshot_id in expiring and (source := summary.get(SOURCE_SHA_KEY)):
            held.setdefault(source, summary.get(SOURCE_FORMAT_KEY, ""))
    else:
        for source, fmt in expired_ingests(tbl).items():
            held.setdefault(source, fmt)
    return dict(list(held.items())[:EXPIRED_INGESTS_KEPT])
