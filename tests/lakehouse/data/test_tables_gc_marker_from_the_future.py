"""A write marker dated in the future (the clock stepped back after a writer died, or a machine
whose clock runs far ahead shares the warehouse) counted as a write in flight until the clock
passed it plus 12 hours: gc kept that table's orphan files all along."""

from __future__ import annotations

import os
import time

import pyarrow as pa

from lakehouse.data.write_markers import MARKER_TRUSTED_S

HOUR = 3600


def test_a_marker_dated_past_the_trust_window_ahead_does_not_hold_gc_off(lakehouse):
    lakehouse.tables.write_arrow("t", pa.table({"id": [1]}))
    table = lakehouse.settings.home_dir / "warehouse" / "lakehouse" / "t"
    then = time.time() - 2 * HOUR
    for path in table.rglob("*"):
        os.utime(path, (then, then))
    orphan = table / "data" / "00000-0-orphan.parquet"
    orphan.write_bytes(b"left by a write that died")
    os.utime(orphan, (then, then))
    marker = table / "inflight" / "dead.json"
    marker.parent.mkdir(exist_ok=True)
    marker.write_text('{"pid": 1}')
    ahead = time.time() + 2 * MARKER_TRUSTED_S
    os.utime(marker, (ahead, ahead))

    report = lakehouse.tables.gc(older_than_s=HOUR)

    assert sorted(f.path.removeprefix("file://") for f in report.removed) == sorted([str(marker), str(orphan)])
    assert (report.writes_in_flight, report.kept_in_flight) == (0, 0)
    assert lakehouse.tables.read_arrow("t").num_rows == 1
