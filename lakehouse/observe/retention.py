"""The shared op table's part of the history's retention (`Observer.forget_before`): with shared
state on, every machine's ops are also rows of `lakehouse._lh_ops`, and a reader of the op log reads
that table whole. Its rows older than the cut-off go in one replace of the table, planned again when
a flush commits first (`Tables.write_planned`), so no row a flush adds meanwhile is lost. The
learning logs (playbooks, evidence, pathway) are never trimmed: they are what the product learns from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lakehouse.data.snapshot_expiry import expire_old_snapshots

if TYPE_CHECKING:
    from lakehouse.data.shared_log import SharedLog


def forget_shared_ops_before(shared: SharedLog, cutoff: datetime, *, dry_run: bool = False) -> int:
    """How many rows of the shared op table started before `cutoff` (removed unless `dry_run`); a row
    without a time stays. Their data files go with the snapshots that expire after it."""
    import pyarrow.compute as pc

    from lakehouse.data.tables import Write

    # the rows' `ts` is the op's ISO start time as written: compared as text, to the second
    limit = cutoff.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    old: dict[str, int] = {"rows": 0}

    def plan(tbl) -> Write | None:
        if tbl is None:
            return None
        data = tbl.scan().to_arrow()
        before = pc.fill_null(pc.and_(pc.not_equal(data["ts"], ""), pc.less(data["ts"], limit)), False)
        old["rows"] = int(pc.sum(before).as_py() or 0)
        if dry_run or not old["rows"]:
            return None
        return Write(data.filter(pc.invert(before)), replace=True, properties={"lakehouse.history-trim": limit})

    done = shared.tables.write_planned(shared.table, plan)
    if not done.skipped and done.table is not None:
        expire_old_snapshots(done.table, shared.settings.shared_state_snapshots_kept)
    return old["rows"]
