"""The ops table's ts_start and ts_end are timestamps, so time conditions work as written. They were
text: `WHERE ts_start > now() - INTERVAL 1 HOUR` failed with `Binder Error: Cannot compare values of
type VARCHAR and type TIMESTAMP WITH TIME ZONE`."""

from __future__ import annotations

import json
from datetime import timedelta

from lakehouse.observe.observer import ObservedOp, Observer, now_utc


def test_time_conditions_and_arithmetic_work_on_the_op_times(tmp_path):
    log = tmp_path / "ops.jsonl"
    observer = Observer(log)
    now = now_utc()
    for hours_ago in (0, 3):
        start = now - timedelta(hours=hours_ago)
        end = start + timedelta(milliseconds=250)
        observer.record(ObservedOp.build(ts_start=start, ts_end=end, source="mode", status="completed"))
    with log.open("a") as out:  # a hand-edited time is no time, not a failed query
        out.write(json.dumps(json.loads(log.read_text().splitlines()[0]) | {"ts_start": "yesterday"}) + "\n")
    columns, rows = observer.sql(
        "SELECT count(*) FILTER (WHERE ts_start > now() - INTERVAL 1 HOUR), count(ts_start), "
        "max(epoch_ms(ts_end) - epoch_ms(ts_start)) FROM ops"
    )
    assert rows == [(1, 2, 250)]
