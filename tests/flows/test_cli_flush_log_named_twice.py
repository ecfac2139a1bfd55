"""`lakehouse flush --log ops --log ops` flushes the ops log once and reports it once. It flushed and
reported it twice (the second report read 0 rows), one JSON entry per time the flag was given."""

from __future__ import annotations

import json

from tests.fixtures.cli import invoke_cli


def test_a_log_named_twice_is_flushed_and_reported_once(lh_home):
    invoke_cli("sql", "SELECT 1")  # a mode call: one op recorded
    reports = json.loads(invoke_cli("flush", "--log", "ops", "--log", "ops", "--force", "--json").stdout)
    assert [(r["name"], r["read"], r["appended"]) for r in reports] == [("ops", 1, 1)]
