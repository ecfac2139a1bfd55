"""Ctrl-C during `lakehouse ingest` printed only an empty line, and an interrupt that came after the
commit had landed still exited 130 as if aborted. It now says whether anything was written: before
the commit, 'interrupted: nothing was written to ...' (exit 130); after it, which snapshot holds the
file's rows (exit 0: the write is done)."""

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
from lakehouse.data.ingest import PAUSE_AFTER_COMMIT_ENV
from lakehouse.data.tables import PAUSE_BEFORE_COMMIT_ENV


def _snapshots(home: Path) -> list[int]:
    lh = Lakehouse(Settings(home=home))
    try:
        return [s.snapshot_id for s in lh.tables.load("b").snapshots()]
    finally:
        lh.close()


def _interrupted_when(home: Path, source: Path, pause_env: str, ready) -> subprocess.CompletedProcess[str]:
    """Run the CLI ingest paused at `pause_env`, send SIGINT once `ready()` holds, and wait."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
    env |= {"LH_HOME": str(home), "LH_PREFECT_AUTOSTART": "false", pause_env: "120"}
    cli = str(Path(sys.executable).with_name("lakehouse"))
    proc = subprocess.Popen(
        [cli, "ingest", str(source), "-t", "b"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's Ctrl-C finds it
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    first = tmp_path / "first.csv"
    first.write_text("a,b\n1,x\n")
    lh = Lakehouse(Settings(home=home))
    from lakehouse.data.ingest import ingest_file

    ingest_file(lh.tables, first, "b")
    lh.close()
    return home


def test_ctrl_c_before_the_commit_says_nothing_was_written(home, tmp_path):
    source = tmp_path / "second.csv"
    source.write_text("a,b\n2,y\n3,z\n")
    data = home / "warehouse" / "lakehouse" / "b" / "data"
    before = _snapshots(home)
    done = _interrupted_when(home, source, PAUSE_BEFORE_COMMIT_ENV, lambda: len(list(data.glob("*.parquet"))) > 1)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "interrupted: nothing was written to lakehouse.b", done.stderr
    assert _snapshots(home) == before


def test_ctrl_c_after_the_commit_says_where_the_rows_are_and_exits_0(home, tmp_path):
    source = tmp_path / "second.csv"
    source.write_text("a,b\n2,y\n3,z\n")
    before = _snapshots(home)
    done = _interrupted_when(home, source, PAUSE_AFTER_COMMIT_ENV, lambda: len(_snapshots(home)) > len(before))
    after = _snapshots(home)
    assert len(after) == len(before) + 1
    assert done.returncode == 0, done.stderr
    expected = f"interrupted after the write was committed: lakehouse.b snapshot {after[-1]} holds the file's rows"
    assert done.stderr.strip() == f"{expected} (3 rows total)", done.stderr
