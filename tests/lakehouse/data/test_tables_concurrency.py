"""Concurrent writers: threads on a fresh LH_HOME, real processes upserting into and creating one
table at once, a writer that keeps losing, and a writer SIGKILLed between writing its files and
committing them. No row is ever lost silently; a lost race ends in a clean error that wrote nothing."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.ingest import ingest_file
from lakehouse.data.tables import PAUSE_BEFORE_COMMIT_ENV, TableConflict
from lakehouse.data.write_markers import MARKER_DIR, MARKER_TRUSTED_S
from tests.fixtures.tables import table_state

REPO = Path(__file__).resolve().parents[3]
ROUNDS = 8
ROWS = 2_000


def test_parallel_first_writes_on_a_fresh_home_all_land(settings):
    lakehouse = Lakehouse(settings)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def write(i: int) -> None:
        barrier.wait()
        try:
            lakehouse.tables.write_arrow(f"race_{i}", pa.table({"n": [i, i + 1]}))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(lakehouse.tables.list()) == [f"lakehouse.race_{i}" for i in range(4)]
    assert all(lakehouse.tables.read_arrow(f"race_{i}").num_rows == 2 for i in range(4))
    lakehouse.close()


# helpers ---------------------------------------------------------------------------------------
def _csv(path: Path, ids: list[int], tag: str) -> Path:
    pacsv.write_csv(pa.table({"id": ids, "v": [f"{tag}{i}" for i in ids]}), path)
    return path


def _rows(lh: Lakehouse, table: str) -> dict[int, str]:
    data = lh.tables.read_arrow(table)
    return dict(zip(data.column("id").to_pylist(), data.column("v").to_pylist(), strict=False))


def _writer(inbox, barrier, results, pause: float) -> None:
    """One writer process: takes (home, jobs) batches from `inbox` until None; for each job it waits
    for the other writer, then ingests. The test hook sleeps between writing the data files and the
    catalog commit, so both writers plan on the same snapshot and one of them loses the race."""
    os.environ[PAUSE_BEFORE_COMMIT_ENV] = str(pause)
    while (batch := inbox.get()) is not None:
        home, jobs = batch
        lh = Lakehouse(Settings(home=home))
        for table, path, key in jobs:
            barrier.wait(timeout=120)
            try:
                r = ingest_file(lh.tables, path, table, key=key)
                results.put((table, path, r.status, r.commit_attempts, ""))
            except Exception as exc:  # noqa: BLE001 - reported to the test, which checks the kind
                results.put((table, path, "error", 0, f"{type(exc).__name__}: {exc}"))
        lh.close()


@pytest.fixture(scope="module")
def writers():
    """Two real writer processes (spawned once per module); `run(home, jobs_a, jobs_b)` has them
    ingest their job lists in lock step and returns (table, path, status, attempts, error) tuples."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    inboxes = [ctx.Queue(), ctx.Queue()]
    procs = [ctx.Process(target=_writer, args=(inbox, barrier, results, 0.2), daemon=True) for inbox in inboxes]
    for p in procs:
        p.start()

    def run(home: Path, jobs_a: list, jobs_b: list) -> list[tuple]:
        for inbox, jobs in zip(inboxes, (jobs_a, jobs_b), strict=False):
            inbox.put((str(home), jobs))
        return [results.get(timeout=300) for _ in range(len(jobs_a) + len(jobs_b))]

    yield run
    for inbox in inboxes:
        inbox.put(None)
    for p in procs:
        p.join(timeout=60)
        if p.is_alive():
            p.kill()


FIGURES: dict[str, list] = {}  # printed with -s: the RELIABILITY figures


# two processes, one table ----------------------------------------------------------------------
def test_two_processes_upserting_disjoint_keys_keep_every_row(writers, tmp_path):
    home = tmp_path / "home"
    lh = Lakehouse(Settings(home=home))
    jobs_a, jobs_b, expected = [], [], {}
    seed = {-1: "seed", -2: "seed", -3: "seed"}
    for r in range(ROUNDS):
        table = f"up_{r}"
        lh.tables.write_arrow(table, pa.table({"id": list(seed), "v": list(seed.values())}))
        a = [-1] + list(range(ROWS - 1))  # -1 updates a seed row; the two files share no key
        b = [-2] + list(range(ROWS - 1, 2 * ROWS - 2))
        jobs_a.append((table, str(_csv(tmp_path / f"a{r}.csv", a, f"a{r}-")), "id"))
        jobs_b.append((table, str(_csv(tmp_path / f"b{r}.csv", b, f"b{r}-")), "id"))
        expected[table] = {-3: "seed", **{i: f"a{r}-{i}" for i in a}, **{i: f"b{r}-{i}" for i in b}}
    lh.close()

    results = writers(home, jobs_a, jobs_b)

    lh = Lakehouse(Settings(home=home))
    errors = [r for r in results if r[2] == "error"]
    for table, path, _status, _attempts, error in errors:
        # a clean refusal, and nothing of that file in the table
        assert error.startswith(
            f"TableConflict: table 'lakehouse.{table}' was changed by another writer during "
            "each of 8 attempts to commit this write; nothing was written: retry it"
        ), error
        assert not set(_rows(lh, table)) & set(pacsv.read_csv(path).column("id").to_pylist()[1:])
        again = ingest_file(lh.tables, path, table, key="id")  # the failed one's re-ingest writes its rows
        assert again.status == "upserted"
    assert all(r[2] == "upserted" for r in results if r[2] != "error")
    for table, want in expected.items():
        assert _rows(lh, table) == want, table  # every row of both files, the seed rows the files left alone
    retried = sum(1 for r in results if r[3] > 1)
    assert retried >= 1  # the pause made both writers plan on one snapshot: someone lost and re-planned
    FIGURES["upsert"] = [
        len(results),
        len(errors),
        retried,
        max(r[3] for r in results),
        sum(len(w) for w in expected.values()),
    ]
    print(
        f"\nRELIABILITY upsert: {ROUNDS} rounds x 2 processes, {len(errors)} refused, {retried} retried, "
        f"max attempts {FIGURES['upsert'][3]}, rows kept {FIGURES['upsert'][4]} of {FIGURES['upsert'][4]}"
    )
    lh.close()


def test_two_processes_creating_one_table_one_creates_the_other_appends(writers, tmp_path):
    home = tmp_path / "home"
    jobs_a, jobs_b = [], []
    rounds = ROUNDS // 2
    for r in range(rounds):
        jobs_a.append((f"new_{r}", str(_csv(tmp_path / f"a{r}.csv", list(range(ROWS)), "a")), None))
        jobs_b.append((f"new_{r}", str(_csv(tmp_path / f"b{r}.csv", list(range(ROWS, 2 * ROWS)), "b")), None))

    results = writers(home, jobs_a, jobs_b)

    lh = Lakehouse(Settings(home=home))
    for r in range(rounds):
        statuses = sorted(res[2] for res in results if res[0] == f"new_{r}")
        assert statuses == ["appended", "created"], (r, results)
        assert sorted(_rows(lh, f"new_{r}")) == list(range(2 * ROWS))
        info = lh.tables.describe(f"new_{r}")
        assert [s["operation"] for s in info["snapshots"]] == ["append", "append"]  # no empty first snapshot
    print(
        f"\nRELIABILITY create: {rounds} rounds x 2 processes, statuses "
        f"{sorted(r[2] for r in results)}, rows kept {rounds * 2 * ROWS} of {rounds * 2 * ROWS}"
    )
    lh.close()


# a concurrent commit injected between planning and committing (deterministic) --------------------
@pytest.fixture
def race(monkeypatch, settings):
    """`race(fn)`: run `fn(other_lakehouse)` just before the next commits (a second Lakehouse with
    its own catalog connection: another writer), as many times as `times`."""
    other = Lakehouse(settings)
    state = {"fn": None, "left": 0, "busy": False}

    def pause() -> None:
        if state["busy"] or state["left"] <= 0:
            return
        state["busy"], state["left"] = True, state["left"] - 1
        try:
            state["fn"](other, state["left"])
        finally:
            state["busy"] = False

    monkeypatch.setattr("lakehouse.data.tables._test_pause_before_commit", pause)

    def arm(fn, times: int = 1) -> None:
        state["fn"], state["left"] = fn, times

    yield arm
    other.close()


def test_an_upsert_that_loses_a_race_merges_again_on_the_new_snapshot(lakehouse, race, tmp_path):
    lakehouse.tables.write_arrow("t", pa.table({"id": [1, 2], "v": ["old", "old"]}))
    mine = _csv(tmp_path / "mine.csv", [1, 10, 11], "mine")
    theirs = _csv(tmp_path / "theirs.csv", [2, 20, 21], "theirs")
    race(lambda other, _: ingest_file(other.tables, theirs, "t", key="id"))

    result = ingest_file(lakehouse.tables, mine, "t", key="id")

    assert (result.status, result.commit_attempts, result.rows_updated, result.rows_total) == ("upserted", 2, 1, 6)
    assert _rows(lakehouse, "t") == {
        1: "mine1",
        10: "mine10",
        11: "mine11",
        2: "theirs2",
        20: "theirs20",
        21: "theirs21",
    }
    for path in (mine, theirs):  # both contents are recorded with their rows
        assert ingest_file(lakehouse.tables, path, "t", key="id").status == "already_ingested"


def test_the_same_content_ingested_by_a_racing_writer_is_not_written_twice(lakehouse, race, tmp_path):
    lakehouse.tables.write_arrow("t", pa.table({"id": [1], "v": ["x"]}))
    same = _csv(tmp_path / "same.csv", [5, 6], "s")
    race(lambda other, _: ingest_file(other.tables, same, "t"))

    result = ingest_file(lakehouse.tables, same, "t")

    assert (result.status, result.commit_attempts, result.rows_total) == ("already_ingested", 2, 3)
    assert sorted(_rows(lakehouse, "t")) == [1, 5, 6]


def test_a_write_that_keeps_losing_fails_cleanly_and_its_reingest_writes(lakehouse, race, tmp_path, monkeypatch):
    monkeypatch.setattr(lakehouse.settings, "table_commit_attempts", 3)
    lakehouse.tables.write_arrow("t", pa.table({"id": [1], "v": ["x"]}))
    mine = _csv(tmp_path / "mine.csv", [7, 8], "mine")
    race(lambda other, n: other.tables.write_arrow("t", pa.table({"id": [100 + n], "v": ["other"]})), times=3)
    data_dir = lakehouse.settings.home_dir / "warehouse" / "lakehouse" / "t" / "data"
    files_before = set(data_dir.iterdir())

    with pytest.raises(TableConflict) as caught:
        ingest_file(lakehouse.tables, mine, "t", key="id")

    assert str(caught.value) == (
        "table 'lakehouse.t' was changed by another writer during each of 3 attempts to "
        "commit this write; nothing was written: retry it"
    )
    assert sorted(_rows(lakehouse, "t")) == [1, 100, 101, 102]  # the other writer's rows, none of mine
    # the lost attempts deleted their own data files: only the other writer's 3 files are new
    assert len(set(data_dir.iterdir()) - files_before) == 3
    again = ingest_file(lakehouse.tables, mine, "t", key="id")
    assert (again.status, again.rows_inserted) == ("upserted", 2)
    assert sorted(_rows(lakehouse, "t")) == [1, 7, 8, 100, 101, 102]


def test_the_cli_reports_a_lost_race_as_an_error_not_a_traceback(lakehouse, race, tmp_path, monkeypatch):
    from lakehouse.config import reset_settings
    from tests.fixtures.cli import invoke_cli

    monkeypatch.setenv("LH_TABLE_COMMIT_ATTEMPTS", "2")
    reset_settings()  # the CLI's Lakehouse reads the environment again (the lh_home fixture resets after)
    lakehouse.tables.write_arrow("t", pa.table({"id": [1], "v": ["x"]}))
    mine = _csv(tmp_path / "mine.csv", [7, 8], "mine")
    race(lambda other, n: other.tables.write_arrow("t", pa.table({"id": [100 + n], "v": ["other"]})), times=2)

    result = invoke_cli("ingest", str(mine), "--table", "t", "--key", "id", code=1)

    assert "table 'lakehouse.t' was changed by another writer during each of 2 attempts" in result.stderr
    assert "retry it" in result.stderr


# a writer killed between writing and committing ------------------------------------------------
_KILLED_INGEST = """
import sys
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.ingest import ingest_file
ingest_file(Lakehouse(Settings(home=sys.argv[1])).tables, sys.argv[2], "killed")
"""


def test_sigkill_during_an_ingest_into_a_new_table_leaves_no_table(tmp_path):
    home = tmp_path / "home"
    source = _csv(tmp_path / "big.csv", list(range(ROWS)), "k")
    env = {**os.environ, PAUSE_BEFORE_COMMIT_ENV: "120"}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_INGEST, str(home), str(source)], env=env, cwd=REPO)
    data_dir = home / "warehouse" / "lakehouse" / "killed" / "data"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not list(data_dir.glob("*.parquet")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL  # killed while its data files were written, not yet committed

    lh = Lakehouse(Settings(home=home))
    assert not lh.tables.exists("killed") and "lakehouse.killed" not in lh.tables.list()
    orphans = set(data_dir.glob("*.parquet"))
    assert orphans  # what the killed write left; `lakehouse gc` removes them (test_tables_gc.py)

    again = ingest_file(lh.tables, source, "killed")
    assert (again.status, again.rows_total) == ("created", ROWS)
    assert sorted(_rows(lh, "killed")) == list(range(ROWS))
    state = table_state(lh, "killed")
    marker = data_dir.parent / MARKER_DIR
    assert lh.tables.gc(older_than_s=0).writes_in_flight == 1  # the killed write's marker: kept for hours
    stale = time.time() - MARKER_TRUSTED_S - 60
    for left in marker.glob("*"):
        os.utime(left, (stale, stale))
    report = lh.tables.gc(older_than_s=0)
    assert {Path(f.path.removeprefix("file://")) for f in report.removed} >= orphans
    assert table_state(lh, "killed") == state
    lh.close()
