"""Shared state across processes: two LH_HOMEs (standing for two machines) on one catalog and
warehouse write ops and flush them concurrently; a flush killed with SIGKILL loses and duplicates
nothing after a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.shared_log import PAUSE_AFTER_COMMIT_ENV, SharedLog
from lakehouse.data.tables import PAUSE_BEFORE_COMMIT_ENV, Tables

ROOT = Path(__file__).resolve().parents[3]

# A worker: records ops through the real observer and flushes every `every` ops (and at the end).
WORKER = """
import sys
from lakehouse.core import Lakehouse
from lakehouse.data.shared_log import flush_all
from lakehouse.observe.observer import ObservedOp, now_utc

tag, count, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lh = Lakehouse()
for i in range(count):
    op = ObservedOp.build(ts_start=now_utc(), source="event", status="completed", run_id=tag, node_id=str(i))
    lh.observer.record(op)
    if (i + 1) % every == 0:
        flush_all(lh.settings, names=["ops"])
        print("flushed", i + 1, flush=True)
flush_all(lh.settings, names=["ops"])
print("done", flush=True)
"""


@pytest.fixture
def homes(tmp_path):
    shared = {"LH_CATALOG_URL": f"sqlite:///{tmp_path / 'catalog.db'}", "LH_WAREHOUSE_URL": (tmp_path / "wh").as_uri()}
    return [(tmp_path / name, shared) for name in ("a", "b")]


def env_for(home: Path, shared: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
    return {**env, **shared, "LH_HOME": str(home), **extra}


def settings_for(home: Path, shared: dict[str, str]) -> Settings:
    return Settings(home=home, catalog_url=shared["LH_CATALOG_URL"], warehouse_url=shared["LH_WAREHOUSE_URL"])


def start(home: Path, shared: dict[str, str], tag: str, count: int, every: int, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, tag, str(count), str(every)],
        cwd=ROOT,
        env=env_for(home, shared, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def table_ids(settings: Settings) -> list[str]:
    tables = Tables(settings)
    try:
        if not tables.exists("lakehouse._lh_ops"):
            return []
        return tables.read_arrow("lakehouse._lh_ops", columns=["id"]).column("id").to_pylist()
    finally:
        tables.close()


def logged_ids(home: Path) -> list[str]:
    return [r["op_id"] for r in Lakehouse(Settings(home=home)).observer.log.records()]


def wait_for(predicate, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_two_homes_flushing_concurrently_store_every_op_exactly_once(homes):
    workers = [start(home, shared, tag, 60, 10) for (home, shared), tag in zip(homes, "ab", strict=True)]
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        assert out.strip().endswith("done")
    ids = table_ids(settings_for(*homes[0]))
    everything = logged_ids(homes[0][0]) + logged_ids(homes[1][0])
    assert len(everything) == 120
    assert sorted(ids) == sorted(everything)  # each once: no duplicate, none lost
    for home, shared in homes:  # every reader sees both homes' ops, each once
        lh = Lakehouse(settings_for(home, shared))
        try:
            seen = [r["op_id"] for r in lh.observer.ops()]
            assert sorted(seen) == sorted(everything)
            assert lh.observer.sql("SELECT run_id, count(*) FROM ops GROUP BY 1 ORDER BY 1")[1] == [
                ("a", 60),
                ("b", 60),
            ]
        finally:
            lh.close()
        again = SharedLog(settings_for(home, shared), "ops").flush()
        assert (again.read, again.appended) == (0, 0)
    assert len(table_ids(settings_for(*homes[0]))) == 120


def test_a_flush_killed_between_commit_and_cursor_write_duplicates_nothing_after_restart(homes):
    home, shared = homes[0]
    worker = start(home, shared, "k", 30, 1000, **{PAUSE_AFTER_COMMIT_ENV: "60"})
    settings = settings_for(home, shared)
    wait_for(lambda: len(table_ids(settings)) == 30, "the worker's commit")
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    redo = SharedLog(settings, "ops").flush()  # the restarted process flushes again
    assert (redo.read, redo.appended, redo.already) == (30, 0, 30)
    assert sorted(table_ids(settings)) == sorted(logged_ids(home))


def test_a_flush_killed_before_its_commit_loses_nothing_after_restart(homes):
    home, shared = homes[0]
    worker = start(home, shared, "k", 25, 1000, **{PAUSE_BEFORE_COMMIT_ENV: "60"})
    settings = settings_for(home, shared)
    wait_for(lambda: len(logged_ids(home)) == 25 and (home / "ops.jsonl.flush.lock").exists(), "the worker's flush")
    time.sleep(0.5)  # let it reach the pause before the catalog commit
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    assert table_ids(settings) == []
    redo = SharedLog(settings, "ops").flush()
    assert (redo.appended, redo.already) == (25, 0)
    assert sorted(table_ids(settings)) == sorted(logged_ids(home))


def test_a_worker_killed_while_flushing_in_a_loop_loses_and_duplicates_nothing(homes):
    home, shared = homes[0]
    worker = start(home, shared, "loop", 100_000, 7)
    settings = settings_for(home, shared)
    assert worker.stdout is not None
    for _ in range(4):  # a few flushes have landed; the kill comes at whatever point it comes
        assert worker.stdout.readline().startswith("flushed")
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    SharedLog(settings, "ops").flush()
    ids = table_ids(settings)
    assert len(ids) == len(set(ids)) >= 28
    assert sorted(ids) == sorted(logged_ids(home))
