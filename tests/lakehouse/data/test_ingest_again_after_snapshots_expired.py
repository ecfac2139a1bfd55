"""Re-ingesting a file whose snapshot has expired: the content hash lived only in that snapshot's
summary, so once it expired the same file was appended again, its rows twice. An upgrade made it
immediate: versions before 2026-12-07 never expired a snapshot, and the first ingest after it expired
all but the newest `table_snapshots_kept` of every long-lived table (a home of 120 daily files: the
day-0 file, "already ingested" one command before, then appended 5 rows again)."""

from __future__ import annotations

import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.ingest import ingest_file


def test_a_file_whose_snapshot_expired_is_still_already_ingested(tmp_path):
    lh = Lakehouse(Settings(home=tmp_path / "home", table_snapshots_kept=1))
    try:
        days = []
        for day in range(13):  # expiry starts past kept + 10 snapshots
            days.append(tmp_path / f"day{day:02d}.csv")
            days[-1].write_text("day,amount\n" + "".join(f"{day},{i}\n" for i in range(5)))
            ingest_file(lh.tables, days[-1], "daily")
        assert len(list(lh.tables.load("daily").snapshots())) < 13  # day 0's snapshot is gone

        again = ingest_file(lh.tables, days[0], "daily")

        assert (again.status, again.rows_in, again.rows_total) == ("already_ingested", 0, 65)
        assert lh.sql.query("SELECT count(*) FROM daily").rows == [[65]]

        lh.tables.write_arrow("daily", pa.table({"day": [99], "amount": [1]}), mode="overwrite")
        assert ingest_file(lh.tables, days[0], "daily").status == "appended"  # its rows were replaced
    finally:
        lh.close()
