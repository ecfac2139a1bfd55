"""A last line of the ops log without its newline (a writer cut off, or one appending now) was never
reported: `ops stats` said "0 corrupt line(s), 0 repair(s)" until another append turned it into a
corrupt line. DESIGN promises torn tails are reported; a read-only command must not cut a line
another process may be writing, so the stats say it in words and the file is left as it was."""

from __future__ import annotations

import json
from datetime import timedelta

from lakehouse.config import get_settings
from lakehouse.observe.observer import ObservedOp, Observer, now_utc
from tests.fixtures.cli import invoke_cli

TORN = '{"op_id": "7f3a", "ts_st'


def _log_with_a_torn_tail():
    observer = Observer(get_settings().ops_log)
    start = now_utc()
    for status in ("completed", "failed"):
        observer.record(
            ObservedOp.build(ts_start=start, ts_end=start + timedelta(milliseconds=5), source="mode", status=status)
        )
    with open(observer.path, "a", encoding="utf-8") as fh:
        fh.write(TORN)
    return observer.path


def test_ops_stats_says_the_last_line_is_incomplete_and_leaves_it(lh_home):
    path = _log_with_a_torn_tail()
    before = path.read_bytes()
    result = invoke_cli("ops", "stats")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.split())
    assert "2 ops;" in said
    assert f"the last line of {path} is incomplete ({len(TORN)} bytes): a writer was cut off or is writing now" in said
    assert path.read_bytes() == before


def test_ops_stats_json_holds_it_and_a_whole_log_holds_none(lh_home):
    path = _log_with_a_torn_tail()
    stats = json.loads(invoke_cli("ops", "stats", "--json").stdout)
    assert stats["incomplete_last_line"].startswith(f"the last line of {path} is incomplete ({len(TORN)} bytes)")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('art": 1}\n')  # the writer finished its line
    assert json.loads(invoke_cli("ops", "stats", "--json").stdout)["incomplete_last_line"] is None
