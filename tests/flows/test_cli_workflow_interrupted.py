"""Ctrl-C during `lakehouse workflow run`. Prefect holds the interrupt until the node running
finishes; the command sat silent for as long and then exited 130 with nothing said: no run id, no
word of what ran or how to go on. It now says so at once, names the run at the end, and the resume
it names reuses what completed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SLEEPY = """
name: sleepy
nodes:
  - {id: first, mode: fixture.sleep, with: {seconds: 0}}
  - {id: nap, mode: fixture.sleep, with: {seconds: 5}, depends_on: [first]}
  - {id: after, mode: fixture.sleep, with: {seconds: 0}, depends_on: [nap]}
"""


def _ops(home: Path) -> list[dict]:
    log = home / "ops.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []


@pytest.mark.prefect
def test_an_interrupted_run_is_named_with_the_way_to_run_the_rest(tmp_path, prefect_server):
    home = tmp_path / "home"
    workflow = tmp_path / "sleepy.yaml"
    workflow.write_text(SLEEPY)
    # The session's Prefect server: a temporary server per CLI process costs 10-20 s and is tested elsewhere.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LH_", "PREFECT_API_URL"))}
    env.update(LH_HOME=str(home), LH_PREFECT_AUTOSTART="false", PREFECT_API_URL=prefect_server)
    cli = str(Path(sys.executable).with_name("lakehouse"))
    run = subprocess.Popen(
        [cli, "workflow", "run", str(workflow)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 180
    while not any(op.get("node_id") == "first" for op in _ops(home)):  # `nap` runs now
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    _out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    run_id = next(op["run_id"] for op in _ops(home) if op.get("node_id") == "first")
    said = " ".join(err.split())  # the console may fold long lines
    assert f"interrupted: run {run_id} (sleepy) stops once the node(s) running now finish" in said
    assert f"interrupted: run {run_id} (sleepy) stopped; the nodes it completed are kept" in said
    assert f"`lakehouse workflow resume {run_id}` runs the rest" in said
    assert "after" not in {op.get("node_id") for op in _ops(home)}

    resumed = subprocess.run(
        [cli, "workflow", "resume", run_id, "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    outcome = json.loads(resumed.stdout)
    assert outcome["status"] == "completed"
    # `first` completed before the interrupt; `nap` too unless the interrupt came before it started
    # (a loaded machine schedules it late): either way the resume runs only what did not complete
    assert "first" in outcome["reused"] and "after" not in outcome["reused"]
