"""Issue 9, defect 1: the CLI runs as the user, so it may still name the user's own files outside
LH_HOME, while the same files stay closed to an untrusted caller (HTTP, MCP, HTTP workflows)."""

from __future__ import annotations

import json

import pytest

from lakehouse.common.paths import PathNotAllowed
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from modes.context import ModeContext
from modes.invoke import invoke_mode
from tests.fixtures.cli import invoke_cli
from tests.fixtures.learning import history_records


def test_cli_ingest_accepts_a_file_outside_home_that_http_may_not_name(lh_home, tmp_path):
    source = tmp_path / "outside" / "somefile.csv"
    source.parent.mkdir()
    source.write_text("id,name\n1,Ann\n2,Bob\n")
    assert not source.is_relative_to(lh_home)
    out = invoke_cli("ingest", str(source), "--table", "mine", "--json")
    assert json.loads(out.stdout)["rows_total"] == 2
    lakehouse = Lakehouse(Settings())
    try:
        untrusted = ModeContext(lakehouse=lakehouse, source="http")
        with pytest.raises(PathNotAllowed, match=r"^path: '.*/outside/somefile\.csv' is outside the allowed roots"):
            invoke_mode("ingest", {"path": str(source), "table": "theirs"}, untrusted)
        assert "lakehouse.theirs" not in lakehouse.tables.list()
    finally:
        lakehouse.close()


def test_cli_distill_score_writes_where_the_user_says(lh_home, tmp_path):
    evidence = tmp_path / "evidence.jsonl"
    evidence.write_text("".join(r.model_dump_json() + "\n" for r in history_records(1)))
    out = tmp_path / "reports" / "scored.jsonl"
    invoke_cli("distill", "score", "--evidence", str(evidence), "--out", str(out))
    assert len(out.read_text().splitlines()) == 10
    lakehouse = Lakehouse(Settings())
    try:
        with pytest.raises(PathNotAllowed, match=r"^evidence_path: .* is outside the allowed roots"):
            invoke_mode("distillation.score", {"evidence_path": str(evidence)}, ModeContext(lakehouse=lakehouse))
    finally:
        lakehouse.close()
