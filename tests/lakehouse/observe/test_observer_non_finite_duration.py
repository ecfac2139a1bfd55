"""An ops log line whose duration is NaN or Infinity (Python's json reads both) is reported as not an
op, as a line of another shape is. It was counted: one such line made `ops stats` report p50 and p95
as NaN for the whole log."""

from __future__ import annotations

import json
from datetime import timedelta

from lakehouse.observe.observer import ObservedOp, Observer, now_utc


def test_a_non_finite_duration_is_reported_and_left_out_of_the_figures(tmp_path):
    log = tmp_path / "ops.jsonl"
    observer = Observer(log)
    start = now_utc()
    for ms in (10.0, 20.0, 30.0):
        end = start + timedelta(milliseconds=ms)
        observer.record(ObservedOp.build(ts_start=start, ts_end=end, source="mode", status="completed"))
    good = json.loads(log.read_text().splitlines()[0])
    line = json.dumps(good).replace(f'"duration_ms": {good["duration_ms"]}', '"duration_ms": DURATION')
    with log.open("a") as out:
        out.write(line.replace("DURATION", "NaN") + "\n" + line.replace("DURATION", "Infinity") + "\n")
    stats = Observer(log).stats()
    assert stats["total"] == 3 and stats["duration_ms"] == {"p50": 20.0, "p95": 29.0}
    assert [r.split(": ", 1)[1] for r in stats["repairs"]] == [
        f"record {n} is not an op (no op_id, ts_start, ts_end, duration_ms, source, status)" for n in (4, 5)
    ]
