"""A home's Prefect server runs on until stopped, across upgrades: one started by a lakehouse before
the scheduler mend (a plain `prefect server start`) still makes no scheduled runs. `server status`,
`server start` and `serve` say so, and how to restart it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.prefect_env import server_file
from tests.fixtures.cli import LAKEHOUSE, own_home_env
from tests.fixtures.http import free_port
from tests.fixtures.serve import lakehouse_serve

pytestmark = pytest.mark.prefect
PREFECT = str(Path(sys.executable).with_name("prefect"))
OUTDATED = (
    "warning: the home's Prefect server (pid {pid}) was started by an older lakehouse, whose server makes no "
    "scheduled runs: restart it (`lakehouse server stop`, then `lakehouse server start`)"
)


def _run(env, *args):
    return subprocess.run([LAKEHOUSE, *args], env=env, capture_output=True, text=True, timeout=300)


def test_an_outdated_server_is_named_with_how_to_restart_it(tmp_path):
    home = (tmp_path / "home").resolve()
    env = own_home_env(home, PREFECT_HOME=str(home / "prefect"))
    port = free_port()
    home.mkdir()
    with open(tmp_path / "old-server.log", "wb") as log:  # as a lakehouse before the mend started it
        old = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api_url = f"http://127.0.0.1:{port}/api"
    server_file(home).write_text(json.dumps({"pid": old.pid, "api_url": api_url, "log": str(log.name)}))
    try:
        said = " ".join(_run(env, "server", "start", "--port", str(port), "--timeout", "180").stderr.split())
        assert OUTDATED.format(pid=old.pid) in said

        status = _run(env, "server", "status", "--json")
        assert json.loads(status.stdout)["makes_scheduled_runs"] is False, status.stdout + status.stderr
        assert OUTDATED.format(pid=old.pid) in " ".join(status.stderr.split())

        with lakehouse_serve(env, tmp_path, tmp_path / "serve.log") as serving:
            for _ in range(240):  # bounded poll, not timed
                if "warning:" in serving.log.read_text() or serving.process.poll() is not None:
                    break
                time.sleep(0.5)
            assert OUTDATED.format(pid=old.pid) in " ".join(serving.log.read_text().split()), serving.tail()

        assert _run(env, "server", "stop").stdout.strip() == "stopped"
        restarted = _run(env, "server", "start", "--port", str(free_port()))
        assert restarted.returncode == 0 and "warning:" not in restarted.stderr, restarted.stderr
        assert json.loads(_run(env, "server", "status", "--json").stdout)["makes_scheduled_runs"] is True
    finally:
        _run(env, "server", "stop")
        if old.poll() is None:
            os.killpg(old.pid, 9)
            old.wait()
