"""Pathway memory and the evidence history across two LH_HOMEs on one catalog (shared state)."""

from __future__ import annotations

import pytest

from lakehouse.config import Settings
from lakehouse.data.shared_log import SharedLog
from lakehouse.learning.distill import EvidenceRecord
from lakehouse.learning.drift import shared_evidence
from lakehouse.learning.pathway import PathwayMemory


@pytest.fixture
def homes(tmp_path):
    common = {"catalog_url": f"sqlite:///{tmp_path / 'catalog.db'}", "warehouse_url": (tmp_path / "wh").as_uri()}
    return Settings(home=tmp_path / "a", **common), Settings(home=tmp_path / "b", **common)


def memory(settings: Settings) -> PathwayMemory:
    return PathwayMemory(settings.pathway_log, shared=SharedLog(settings, "pathway"))


def test_pathway_events_of_both_homes_fold_in_time_order(homes):
    a, b = memory(homes[0]), memory(homes[1])
    a.add("forklift operator, night shift", {"state": "IL"}, trace_id="t1")
    assert [t.id for t in b.traces()] == []
    a.shared.flush()
    assert b.get("t1").text == "forklift operator, night shift"
    b.update("t1", metadata={"state": "WI"})  # b's event on a's trace, not flushed yet: b sees it
    assert b.get("t1").metadata == {"state": "WI"}
    assert a.get("t1").metadata == {"state": "IL"}
    b.shared.flush()
    assert a.get("t1").metadata == {"state": "WI"}
    a.retire("t1", reason="filled")
    a.shared.flush()
    assert [t.status for t in b.traces()] == ["retired"]
    assert b.problems == a.problems == []


def test_the_evidence_history_is_every_homes_records(homes):
    def record(i: int) -> dict:
        return EvidenceRecord(query=f"q{i}", answer="a", success=True, latency_ms=1.0, id=f"rt-{i}").model_dump(
            mode="json"
        )

    a, b = (SharedLog(s, "evidence") for s in homes)
    a.log.append(record(1))
    a.flush()
    b.log.append(record(2))
    history = shared_evidence(homes[1], homes[1].home_dir / "evidence.jsonl")
    assert history is not None and sorted(r.id for r in history) == ["rt-1", "rt-2"]
    assert shared_evidence(homes[1], homes[1].home_dir / "other.jsonl") is None  # another file: read as is


def test_nightly_drift_plans_the_scorer_check_from_other_homes_evidence(homes):
    """Machine b has no local evidence file; with a's history flushed, b's nightly run checks the scorer."""
    from lakehouse.core import Lakehouse
    from modes.catalog.drift_nightly import NightlyIn, PlannedCheck, plan_checks
    from modes.context import ModeContext
    from modes.registry import load_modes

    load_modes()
    a = SharedLog(homes[0], "evidence")
    a.log.append(EvidenceRecord(query="q", answer="a", success=True, latency_ms=1.0, id="rt-a").model_dump(mode="json"))
    lh = Lakehouse(homes[1])
    try:
        ctx = ModeContext(lakehouse=lh, source="mode")
        [before] = [c for c in plan_checks(NightlyIn(corpora=[]), ctx) if c.check == "scorer"]
        assert not isinstance(before, PlannedCheck) and before.summary.startswith("no evidence history at")
        a.flush()
        [after] = [c for c in plan_checks(NightlyIn(corpora=[]), ctx) if c.check == "scorer"]
        assert isinstance(after, PlannedCheck) and after.mode == "drift.scorer"
    finally:
        lh.close()
