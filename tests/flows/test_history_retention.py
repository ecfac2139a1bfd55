"""`lakehouse gc` drops the history older than --keep-history (history_kept_days): old ops, run
records, submissions, unnamed outputs and reports go; what is newer, or named by a kept run, stays."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.outputs import NodeRecord, RunManifest, RunStore
from lakehouse.core import Lakehouse
from lakehouse.observe.observer import ObservedOp

runner = CliRunner()
OLD = time.time() - 200 * 86400  # older than the default 90 days


def _op(ended: datetime, run_id: str) -> ObservedOp:
    return ObservedOp(
        ts_start=ended, ts_end=ended, duration_ms=1.0, source="workflow", run_id=run_id, status="completed"
    )


def _back_date(root, keys) -> None:
    for key in keys:
        os.utime(root / key, (OLD, OLD))


@pytest.fixture
def home(settings):
    """Two runs (one 200 days old), their outputs, an orphan output, a submission, ops and reports."""
    lh = Lakehouse(settings)
    runs = RunStore(lh.store)
    shared = runs.put_output({"rows": 1})  # named by both runs
    only_old = runs.put_output({"rows": 2})
    orphan = runs.put_output({"rows": 3})
    for run_id, sha in (("oldrun", only_old), ("newrun", shared)):
        runs.write_manifest(RunManifest(run_id=run_id, workflow="w", source="w.yaml", text="nodes: {}"))
        runs.write_node(run_id, NodeRecord(node_id="a", status="completed", output_sha256=sha))
    runs.write_node("oldrun", NodeRecord(node_id="b", status="completed", output_sha256=shared))
    runs.write_submission({"run_id": "0" * 32, "state": "completed"})
    root = lh.store.root
    _back_date(root, [k for k in lh.store.list("_runs/") if "newrun" not in k])
    now = datetime.now(UTC)
    for ended in (now - timedelta(days=200), now - timedelta(days=100), now - timedelta(days=1)):
        lh.observer.record(_op(ended, "oldrun"))
    lh.close()
    lift = settings.home_dir / "lift" / "run1"
    lift.mkdir(parents=True)
    (lift / "a-report.md").write_text("old")
    os.utime(lift / "a-report.md", (OLD, OLD))
    (settings.home_dir / "drift").mkdir()
    (settings.home_dir / "drift" / "nightly-x.json").write_text("{}")
    return settings, root, {"shared": shared, "only_old": only_old, "orphan": orphan}


def _keys(root) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / "_runs").rglob("*") if p.is_file()}


def test_gc_drops_the_history_older_than_90_days_and_keeps_the_rest(home):
    settings, root, sha = home
    before = _keys(root)
    dry = runner.invoke(app, ["gc", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    history = json.loads(dry.stdout)["history"]
    assert (history["ops"], history["runs"], history["submissions"], history["outputs"], history["reports"]) == (
        2,
        1,
        1,
        2,
        1,
    )
    assert "would drop 2 op(s)" in history["summary"] and _keys(root) == before

    done = runner.invoke(app, ["gc"])
    assert done.exit_code == 0, done.output
    assert "dropped 2 op(s)" in done.stdout and "1 run record(s)" in done.stdout
    assert _keys(root) == {
        "_runs/newrun/manifest.json",
        "_runs/newrun/nodes/a.json",
        f"_runs/outputs/{sha['shared'][:2]}/{sha['shared']}.json",
    }
    ops = [json.loads(line) for line in (settings.home_dir / "ops.jsonl").read_text().splitlines()]
    ended = sorted(op["ts_end"] for op in ops if op["run_id"] == "oldrun")  # gc's own ops come after
    assert len(ended) == 1 and ended[0] > (datetime.now(UTC) - timedelta(days=2)).isoformat()
    assert not (settings.home_dir / "lift" / "run1").exists()
    assert (settings.home_dir / "drift" / "nightly-x.json").exists()


def test_keep_history_asks_for_how_long(home):
    settings, root, _ = home
    kept = runner.invoke(app, ["gc", "--keep-history", "300d", "--json"])
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.stdout)["history"]["runs"] == 0
    short = runner.invoke(app, ["gc", "--keep-history", "10m"])
    assert short.exit_code != 0
    assert "--keep-history 600s is under an hour" in short.output
    assert "_runs/oldrun/manifest.json" in _keys(root)


def test_an_old_output_that_a_new_run_stores_again_counts_as_new(settings):
    """A run names an output that exists already: stored again, it is not old enough for the trim
    between the put and the node record that names it."""
    lh = Lakehouse(settings)
    runs = RunStore(lh.store)
    sha = runs.put_output({"rows": 1})
    key = RunStore.output_key(sha)
    _back_date(lh.store.root, [key])
    assert lh.store.stat(key).modified < datetime.now(UTC) - timedelta(days=100)
    assert runs.put_output({"rows": 1}) == sha
    assert lh.store.stat(key).modified > datetime.now(UTC) - timedelta(hours=1)
    lh.close()


def test_with_shared_state_on_gc_trims_the_shared_op_table_too(lh_home, monkeypatch):
    from lakehouse.config import Settings, reset_settings
    from lakehouse.data.shared_log import flush_all

    monkeypatch.setenv("LH_SHARED_STATE", "on")
    reset_settings()
    settings = Settings()
    lh = Lakehouse(settings)
    now = datetime.now(UTC)
    for ended in (now - timedelta(days=200), now - timedelta(days=100), now - timedelta(days=1)):
        lh.observer.record(_op(ended, "shared"))
    flush_all(settings)
    lh.close()
    done = runner.invoke(app, ["gc", "--json"])
    assert done.exit_code == 0, done.output
    history = json.loads(done.stdout)["history"]
    assert (history["ops"], history["shared_ops"]) == (2, 2)
    assert "2 row(s) of the shared op table" in history["summary"]
    listed = runner.invoke(app, ["ops", "list", "--run", "shared", "--json"])
    assert len(json.loads(listed.stdout)) == 1, listed.output


def test_two_trims_at_once_each_finish_and_together_drop_it_all(home):
    import threading

    from flows.retention import trim_history

    settings, root, sha = home
    reports = []

    def trim() -> None:
        lh = Lakehouse(settings)
        try:
            reports.append(trim_history(lh, 90 * 86400, outputs_window_s=3600))
        finally:
            lh.close()

    threads = [threading.Thread(target=trim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.errors for r in reports] == [[], []]
    assert sum(r.ops for r in reports) == 2 and sum(r.reports for r in reports) == 1
    assert sum(r.submissions for r in reports) == 1 and sum(r.outputs for r in reports) == 2
    assert "_runs/oldrun/manifest.json" not in _keys(root) and "_runs/newrun/manifest.json" in _keys(root)
