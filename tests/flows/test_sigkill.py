"""SIGKILL in the middle of a run: the ops log reopens cleanly and keeps the finished nodes' rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lakehouse.observe.observer import Observer

pytestmark = pytest.mark.prefect

WORKFLOW = """
name: killed-midway
nodes:
  - {id: first, mode: fixture.echo, with: {value: done before the kill}}
  - {id: second, mode: fixture.upper, depends_on: [first], with: {text: $first.output.value}}
  - {id: long, mode: fixture.sleep, depends_on: [second], with: {seconds: 120}}
  - {id: never, mode: fixture.echo, depends_on: [long], with: {value: unreachable}}
"""


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def test_sigkill_mid_run_leaves_a_reopenable_log(prefect_server, tmp_path):
    home = tmp_path / "home"
    workflow = tmp_path / "killed.yaml"
    workflow.write_text(WORKFLOW)
    env = {**os.environ, "LH_HOME": str(home), "PREFECT_API_URL": prefect_server}
    lakehouse_cli = Path(sys.executable).with_name("lakehouse")
    process = subprocess.Popen(
        [str(lakehouse_cli), "workflow", "run", str(workflow), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    log = home / "ops.jsonl"
    deadline = time.monotonic() + 180
    try:
        while {r["node_id"] for r in _rows(log)} < {"first", "second"}:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the run never finished its first two nodes"
            time.sleep(0.2)
        time.sleep(0.5)  # `long` is now sleeping
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    # A kill can also land mid-write: emulate the torn line such a write leaves.
    with open(log, "ab") as fh:
        fh.write(b'{"op_id": "torn", "status": "comp')
    observer = Observer(log)
    rows = observer.ops()  # the torn line is not read (it could be a write in progress), and not cut
    assert [(r["node_id"], r["status"]) for r in rows] == [("first", "completed"), ("second", "completed")]
    assert rows[1]["output"] == {"text": "DONE BEFORE THE KILL"}
    assert observer.log.report.corrupt == []
    assert log.read_bytes().endswith(b'"status": "comp')
