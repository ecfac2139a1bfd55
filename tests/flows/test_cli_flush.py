"""`lakehouse flush`: reports per log, idempotent, says when shared state is off, refuses unknown logs."""

from __future__ import annotations

import json

import pytest

from lakehouse.config import reset_settings
from tests.fixtures.cli import invoke_cli


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LH_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.db'}")
    monkeypatch.setenv("LH_WAREHOUSE_URL", (tmp_path / "wh").as_uri())
    reset_settings()
    (tmp_path / "home").mkdir()
    yield tmp_path / "home"
    reset_settings()


def test_flush_json_reports_each_log_and_a_second_flush_adds_nothing(home):
    (home / "ops.jsonl").write_text('{"op_id": "o1", "ts_start": "2026-01-01T00:00:00+00:00"}\n')
    first = {r["name"]: r for r in json.loads(invoke_cli("flush", "--json").stdout)}
    assert list(first) == ["ops", "playbooks", "pathway", "evidence"]
    assert (first["ops"]["appended"], first["ops"]["table"]) == (1, "lakehouse._lh_ops")
    second = json.loads(invoke_cli("flush", "--json", "--log", "ops").stdout)
    assert [(r["name"], r["read"], r["appended"]) for r in second] == [("ops", 0, 0)]
    assert "lakehouse._lh_ops" in invoke_cli("flush").stdout


def test_flush_says_shared_state_is_off(tmp_path, monkeypatch):
    monkeypatch.setenv("LH_HOME", str(tmp_path))
    monkeypatch.setenv("LH_SHARED_STATE", "off")
    reset_settings()
    try:
        out = invoke_cli("flush").stdout
    finally:
        reset_settings()
    assert "nothing flushed: shared state is off (LH_SHARED_STATE); `--force` flushes anyway" in out


def test_flush_refuses_an_unknown_log(home):
    result = invoke_cli("flush", "--log", "opps", code=1)
    assert "unknown shared log(s) ['opps']: use ops, playbooks, pathway, evidence" in result.output + result.stderr
