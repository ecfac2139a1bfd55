"""Resume after SIGKILL: `lakehouse workflow run` is killed while a node sleeps; the resume reuses
the nodes that completed before the kill, runs the rest, and ends the killed run in Prefect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.prefect

# `nap` outlasts the moment the test sees `second`'s op and kills the runner (it is re-run, so short)
WORKFLOW = """
name: killed-then-resumed
nodes:
  - {id: first, mode: fixture.echo, with: {value: done before the kill}}
  - {id: second, mode: fixture.upper, depends_on: [first], with: {text: $first.output.value}}
  - {id: nap, mode: fixture.sleep, depends_on: [second], with: {seconds: 5}}
  - {id: last, mode: fixture.echo, depends_on: [nap], with: {value: $second.output.text}}
"""


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _lakehouse(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    command = [str(Path(sys.executable).with_name("lakehouse")), *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_resume_after_sigkill_reuses_the_nodes_completed_before_the_kill(prefect_server, tmp_path):
    home = tmp_path / "home"
    workflow = tmp_path / "killed.yaml"
    workflow.write_text(WORKFLOW)
    env = {**os.environ, "LH_HOME": str(home), "PREFECT_API_URL": prefect_server}
    process = _lakehouse("workflow", "run", str(workflow), "--json", env=env)
    log = home / "ops.jsonl"
    deadline = time.monotonic() + 180
    try:
        while "second" not in {r["node_id"] for r in _rows(log) if r["status"] == "completed"}:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the run never finished its first two nodes"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    killed = {r["run_id"] for r in _rows(log)}
    assert len(killed) == 1
    parent = killed.pop()
    # The kill can also land between `second`'s op and its node record: emulate that (the resume
    # then takes the op, whose output the runner stored before recording it).
    from lakehouse.config import Settings
    from lakehouse.core import Lakehouse

    lakehouse = Lakehouse(Settings(home=home))
    try:
        assert lakehouse.store.exists(f"_runs/{parent}/nodes/first.json")
        record = f"_runs/{parent}/nodes/second.json"
        if lakehouse.store.exists(record):
            lakehouse.store.delete(record)
    finally:
        lakehouse.close()

    resumed = _lakehouse("workflow", "resume", parent, "--json", env=env)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()[-2000:]
    child = json.loads(out)
    assert child["parent_run_id"] == parent
    assert sorted(child["reused"]) == ["first", "second"]
    assert child["rerun"] == {"nap": "never started", "last": "downstream of nap"}
    assert child["nodes"]["last"]["output"] == {"value": "DONE BEFORE THE KILL"}

    rows = [r for r in _rows(log) if r["run_id"] in (parent, child["run_id"])]
    completed = sorted(r["node_id"] for r in rows if r["status"] == "completed")
    assert completed == ["first", "last", "nap", "second"]  # each exactly once across both runs
    assert {r["parent_run_id"] for r in rows if r["run_id"] == child["run_id"]} == {parent}

    # Prefect showed the killed run "Running" for ever; its resume says it ended
    killed_run = httpx.get(f"{prefect_server}/flow_runs/{parent}", timeout=30).json()
    assert killed_run["state"]["type"] == "CRASHED", killed_run["state"]
    assert f"(killed); resumed as flow run {child['run_id']}" in killed_run["state"]["message"]
