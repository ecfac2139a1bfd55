"""Modes `ingest` and `sql.query`: typed input/output, recorded as ObservedOps."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lakehouse.data.ingest import IngestError
from lakehouse.data.sql.guard import SqlRejected
from modes.context import ModeContext
from modes.invoke import invoke_mode
from tests.fixtures.tables import INGEST_CASES


@pytest.fixture
def ctx(lakehouse):
    return ModeContext.standalone(lakehouse)


def test_ingest_then_query(ctx):
    out = invoke_mode("ingest", {"path": str(INGEST_CASES / "base.csv"), "table": "people"}, ctx)
    assert (out["status"], out["rows_in"], out["rows_total"], out["table"]) == ("created", 3, 3, "lakehouse.people")
    assert isinstance(out["snapshot_id"], int)
    again = invoke_mode("ingest", {"path": str(INGEST_CASES / "base.csv"), "table": "people"}, ctx)
    assert again["status"] == "already_ingested" and again["snapshot_id"] == out["snapshot_id"]
    result = invoke_mode("sql.query", {"sql": "SELECT name, day FROM people ORDER BY id", "row_cap": 2}, ctx)
    assert result == {
        "columns": ["name", "day"],
        "rows": [["Ada", "2024-01-02"], ["Bo", "2024-02-03"]],
        "truncated": True,
        "row_count": 2,
    }
    ops = ctx.lakehouse.observer.ops()
    assert [(o["mode"], o["status"]) for o in ops] == [("ingest", "completed")] * 2 + [("sql.query", "completed")]


def test_inputs_are_strict(ctx):
    with pytest.raises(ValidationError, match="extra_forbidden"):
        invoke_mode("sql.query", {"sql": "SELECT 1", "rows": 3}, ctx)
    with pytest.raises(ValidationError, match="format"):
        invoke_mode("ingest", {"path": "x.csv", "table": "t", "format": "xml"}, ctx)
    with pytest.raises(ValidationError, match="row_cap"):
        invoke_mode("sql.query", {"sql": "SELECT 1", "row_cap": -1}, ctx)


def test_failures_are_recorded_with_the_message(ctx):
    with pytest.raises(SqlRejected, match="DROP statements are not allowed"):
        invoke_mode("sql.query", {"sql": "DROP TABLE people"}, ctx)
    with pytest.raises(IngestError, match="line 4: expected 4 fields"):
        invoke_mode("ingest", {"path": str(INGEST_CASES / "ragged_row.csv"), "table": "people"}, ctx)
    failed = [o for o in ctx.lakehouse.observer.ops() if o["status"] == "failed"]
    assert [o["mode"] for o in failed] == ["sql.query", "ingest"]
    assert "DROP statements are not allowed" in failed[0]["error"]
