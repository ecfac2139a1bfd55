"""`lakehouse workflow run` starts a local Prefect server when none is in use, and later runs use it.

Real processes: the CLI as a subprocess, the Prefect server it starts, `lakehouse server stop`.
The test session turns auto-start off (tests/conftest.py); these tests turn it on for one LH_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

STARTED = "started a local Prefect server"


def _cli(home: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env.update(LH_HOME=str(home), LH_PREFECT_AUTOSTART="true")
    cli = str(Path(sys.executable).with_name("lakehouse"))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([cli, *args], env=env, capture_output=True, text=True, timeout=400)

    return run


@pytest.mark.prefect
def test_first_run_starts_the_server_and_the_next_run_uses_it(tmp_path):
    home = tmp_path / "home"
    run = _cli(home)
    try:
        first = run("workflow", "run", "hello-lakehouse", "--json")
        assert first.returncode == 0, first.stderr
        assert first.stderr.count(STARTED) == 1, first.stderr
        assert "lakehouse server stop" in first.stderr and "LH_PREFECT_AUTOSTART=false" in first.stderr
        recorded = json.loads((home / "prefect-server.json").read_text())
        status = run("server", "status", "--json")
        assert status.returncode == 0, status.stdout
        api_url = json.loads(status.stdout)["api_url"]
        assert api_url == recorded["api_url"] and "starting" not in recorded

        second = run("workflow", "run", "hello-lakehouse", "--json")
        assert second.returncode == 0, second.stderr
        assert STARTED not in second.stderr
        for done in (first, second):
            run_id = json.loads(done.stdout)["run_id"]
            flow_run = httpx.get(f"{api_url}/flow_runs/{run_id}", timeout=30)
            assert flow_run.status_code == 200, run_id
            assert flow_run.json()["state"]["type"] == "COMPLETED"
    finally:
        stopped = run("server", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert run("server", "status").returncode == 1
    assert not (home / "prefect-server.json").exists()


@pytest.mark.prefect
def test_a_server_that_cannot_start_leaves_the_run_to_prefects_temporary_server(tmp_path):
    home = tmp_path / "home"
    (home / "prefect-server.log").mkdir(parents=True)  # the server's log cannot be opened: no server
    run = _cli(home)
    done = run("workflow", "run", "hello-lakehouse", "--json")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "could not start a local Prefect server" in warnings[0], done.stderr
    assert "Prefect's temporary server" in warnings[0]
    assert json.loads(done.stdout)["status"] == "completed"
    assert not (home / "prefect-server.json").exists()


def test_a_recorded_pid_that_is_not_a_prefect_server_is_neither_used_nor_stopped(tmp_path):
    """After a reboot or a container restart the recorded pid may name another process."""
    home = tmp_path / "home"
    home.mkdir()
    other = subprocess.Popen(["sleep", "60"])
    try:
        record = {"pid": other.pid, "api_url": "http://127.0.0.1:9/api", "log": str(home / "prefect-server.log")}
        (home / "prefect-server.json").write_text(json.dumps(record))
        run = _cli(home)
        status = run("server", "status", "--json")
        assert status.returncode == 1 and json.loads(status.stdout)["running"] is False
        stopped = run("server", "stop")
        assert stopped.returncode == 0 and "not running" in stopped.stdout
        assert other.poll() is None  # still alive: not ours to kill
        assert not (home / "prefect-server.json").exists()
    finally:
        other.kill()
        other.wait()
