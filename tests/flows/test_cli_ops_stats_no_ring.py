"""`ops stats` in the CLI reported `ring 0/10000`: the in-memory ring of the one-shot process that
prints the stats, empty by construction, read as "no op kept". The CLI leaves it out; the API's
stats keep it (there the ring is the server's)."""

from __future__ import annotations

import json
from datetime import timedelta

from lakehouse.config import get_settings
from lakehouse.observe.observer import ObservedOp, Observer, now_utc
from tests.fixtures.cli import invoke_cli


def test_the_cli_stats_say_nothing_of_a_ring(lh_home):
    start = now_utc()
    Observer(get_settings().ops_log).record(
        ObservedOp.build(ts_start=start, ts_end=start + timedelta(milliseconds=3), source="mode", status="completed")
    )
    data = json.loads(invoke_cli("ops", "stats", "--json").stdout)
    assert data["total"] == 1 and "ring" not in data
    said = " ".join(invoke_cli("ops", "stats").stdout.split())
    assert "log health: 0 write failure(s), 0 corrupt line(s), 0 repair(s)" in said and "ring" not in said
