"""gc's only guard was the files' age: a write whose data files were older than the window before
its commit (a long upsert, a slow store) lost them to gc and then committed a table nobody could
read. A write in flight now holds a marker under its table, and gc keeps that table's unreferenced
files while the marker is younger than MARKER_TRUSTED_S; a killed writer's marker expires."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.ingest import ingest_file
from lakehouse.data.tables import PAUSE_BEFORE_COMMIT_ENV
from lakehouse.data.write_markers import MARKER_TRUSTED_S
from modes.context import ModeContext
from modes.invoke import invoke_mode

REPO = Path(__file__).resolve().parents[3]
_WRITER = """
import sys
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.ingest import ingest_file
ingest_file(Lakehouse(Settings(home=sys.argv[1])).tables, sys.argv[2], "t")
"""


def _aged(paths, seconds: float) -> None:
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))


def _writer_paused_before_commit(home: Path, source: Path, pause: float) -> tuple[subprocess.Popen, set[Path]]:
    """A second process ingesting `source` into t, held after its data files are written; those files."""
    data = home / "warehouse" / "lakehouse" / "t" / "data"
    before = set(data.glob("*.parquet"))
    env = {**os.environ, PAUSE_BEFORE_COMMIT_ENV: str(pause)}
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(home), str(source)], env=env, cwd=REPO)
    deadline = time.monotonic() + 120
    while writer.poll() is None and time.monotonic() < deadline and not set(data.glob("*.parquet")) - before:
        time.sleep(0.05)
    assert writer.poll() is None, "the writer ended before its files could be seen"
    return writer, set(data.glob("*.parquet")) - before


def _table(tmp_path: Path) -> tuple[Path, Lakehouse]:
    home = tmp_path / "home"
    first = tmp_path / "first.csv"
    first.write_text("a\n1\n")
    lh = Lakehouse(Settings(home=home))
    ingest_file(lh.tables, first, "t")
    return home, lh


def test_gc_keeps_the_files_of_a_write_in_flight_and_the_write_commits_whole(tmp_path):
    home, lh = _table(tmp_path)
    source = tmp_path / "second.csv"
    source.write_text("a\n2\n3\n")
    writer, in_flight = _writer_paused_before_commit(home, source, pause=20)
    written = {p for p in (home / "warehouse").rglob("*") if p.is_file() and "inflight" not in p.parts}
    _aged(written, 2 * 3600)  # older than gc's window: only the marker keeps the writer's files
    # through the mode (CLI `gc --json`, HTTP, the nightly job), whose answer once dropped the counts
    report = invoke_mode("tables.gc", {"older_than": "1h"}, ModeContext(lakehouse=lh))
    assert not report["removed"] and all(p.exists() for p in in_flight)
    assert report["writes_in_flight"] == 1 and report["kept_in_flight"] >= len(in_flight)  # its manifests too
    said = f"1 write(s) in flight: kept the {report['kept_in_flight']} unreferenced file(s) of their tables"
    assert said in report["summary"]
    assert writer.wait(timeout=120) == 0
    assert lh.sql.query("SELECT a FROM t ORDER BY a").rows == [[1], [2], [3]]
    assert not list((home / "warehouse" / "lakehouse" / "t" / "inflight").glob("*"))  # the marker went
    lh.close()


def test_a_killed_writers_marker_expires_and_its_files_go(tmp_path):
    home, lh = _table(tmp_path)
    source = tmp_path / "second.csv"
    source.write_text("a\n2\n")
    writer, orphans = _writer_paused_before_commit(home, source, pause=120)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    markers = set((home / "warehouse" / "lakehouse" / "t" / "inflight").glob("*.json"))
    assert len(markers) == 1  # a killed writer cannot remove it
    _aged(orphans, 2 * 3600)
    assert lh.tables.gc(older_than_s=3600).writes_in_flight == 1  # young: still trusted
    assert all(p.exists() for p in orphans)
    _aged(markers, MARKER_TRUSTED_S + 60)
    report = lh.tables.gc(older_than_s=3600)
    removed = {f.path for f in report.removed}
    assert report.writes_in_flight == 0 and {p.as_uri() for p in orphans | markers} <= removed
    assert lh.sql.query("SELECT a FROM t").rows == [[1]]
    lh.close()
