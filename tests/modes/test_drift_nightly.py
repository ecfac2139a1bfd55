"""`drift.nightly` called directly: every check on a home that has something to check, skips with
reasons on an empty home, and a broken check fails the mode after the others ran."""

from __future__ import annotations

import shutil

import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from modes.catalog.drift_nightly import NightlyDriftFailed
from modes.context import ModeContext
from modes.invoke import invoke_mode


def _ctx(home, **settings) -> ModeContext:
    return ModeContext.standalone(Lakehouse(Settings(home=home, embed_model="wordllama", **settings)))


def test_every_check_runs_on_a_home_with_history_playbooks_and_two_snapshots(jobs_home):
    ctx = _ctx(jobs_home)
    out = invoke_mode("drift.nightly", {}, ctx)
    checks = {(c["check"], c["target"]): c for c in out["checks"]}
    scorer = checks[("scorer", str(jobs_home / "evidence.jsonl"))]
    assert scorer["status"] == "ok" and scorer["drifted"] is True
    assert scorer["result"]["old_version"] == "v1" and scorer["result"]["new_version"] == "v2"
    assert scorer["result"]["drifted"] == 8  # 4 of the 10 fixture rows, two copies
    playbook = checks[("playbook", "jobs")]
    assert playbook["status"] == "ok" and playbook["result"]["checked"] == 1 and playbook["drifted"] is False
    embedding = checks[("embedding", "jobs")]
    assert embedding["status"] == "ok" and embedding["result"]["n_a"] == 12 and embedding["result"]["n_b"] == 16
    assert (out["drifted"], out["skipped"], out["failed"]) == (1, 0, 0)
    modes = [op["mode"] for op in ctx.lakehouse.observer.ring_ops(None)]
    assert {"drift.scorer", "drift.playbook", "drift.embedding", "drift.nightly"} <= set(modes)


def test_an_empty_home_skips_every_check_with_the_reason(tmp_path):
    out = invoke_mode("drift.nightly", {}, _ctx(tmp_path))
    summaries = {c["check"]: (c["status"], c["summary"]) for c in out["checks"]}
    assert summaries == {
        "scorer": ("skipped", f"no evidence history at {tmp_path / 'evidence.jsonl'}"),
        "playbook": ("skipped", "no playbooks recorded"),
    }
    assert (out["drifted"], out["skipped"], out["failed"]) == (0, 2, 0)


def test_a_scorer_without_an_older_version_is_skipped(jobs_home):
    out = invoke_mode("drift.nightly", {"new_scorer": "v1", "corpora": []}, _ctx(jobs_home))
    assert out["checks"][0]["summary"] == "scorer 'v1' has no older version to compare with"


def test_a_broken_history_fails_the_run_after_the_other_checks(jobs_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(jobs_home, home, ignore=shutil.ignore_patterns("drift", "ops.jsonl", "lift"))
    # a record no writer writes is skipped (one bad record costs one record): a log of nothing else fails
    (home / "evidence.jsonl").write_text('{"query": "welder", "answer": "x", "success": "maybe", "latency_ms": 1}\n')
    ctx = _ctx(home)
    with pytest.raises(
        NightlyDriftFailed,
        match=r"scorer drift on .*evidence\.jsonl failed: InputFileError: .*evidence\.jsonl: no evidence records "
        r"\(1 skipped, the first: .*evidence\.jsonl, record 1, field 'success'",
    ):
        invoke_mode("drift.nightly", {}, ctx)
    completed = {op["mode"] for op in ctx.lakehouse.observer.ring_ops(None) if op["status"] == "completed"}
    assert {"drift.playbook", "drift.embedding"} <= completed  # the other checks still ran
